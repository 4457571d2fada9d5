/**
 * What a front end started by the first one runs (front-ends.ts): this compiled tree's CLI,
 * whatever path or `node -e` the first one was started through.
 */
import { main } from './main';

main(process.argv.slice(2));

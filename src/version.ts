/** The package version, reported as SERVER_SOFTWARE and by `fcgipm --version`. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = (require('../package.json') as { version: string }).version;

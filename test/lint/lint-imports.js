/**
 * Lints import lines with the repository's eslint.config.mjs as if they were written in the
 * given files, and prints what no-restricted-imports (the layer rules) says about each. Run as
 * a child process: ESLint loads its ES-module config with import(), which Jest's module
 * sandbox does not offer. Type information is switched off (the probed files need not exist);
 * the layer rules do not use it.
 *
 * stdin: [{ "file": "src/protocol/x.ts", "code": "import ..." }], or {"lintSrc": true} for
 * every file under src/. stdout: [{ "file", "messages": ["..."] }].
 */
const path = require('node:path');
const { ESLint } = require('eslint');
const tseslint = require('typescript-eslint');

const ROOT = path.resolve(__dirname, '../..');

async function main() {
  const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
  const eslint = new ESLint({
    cwd: ROOT,
    overrideConfig: [{ ...tseslint.configs.disableTypeChecked, files: ['**/*.ts'] }],
    ruleFilter: ({ ruleId }) => ruleId === 'no-restricted-imports',
  });
  const results = Array.isArray(input)
    ? (await Promise.all(input.map((c) => eslint.lintText(c.code, { filePath: path.join(ROOT, c.file) })))).flat()
    : await eslint.lintFiles(['src/**/*.ts']);
  const out = results.map((r) => ({ file: path.relative(ROOT, r.filePath), messages: r.messages.map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`) }));
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

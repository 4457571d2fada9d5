import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers of docs/architecture.md ("Layers"): which part of src/ each folder may import.
 * A name is a folder ("protocol": anything in it) or one module ("spawn/native"); a folder
 * always imports its own files, and every layer may use errors.ts and log.ts unless its row
 * says otherwise. Encoded with ESLint's own no-restricted-imports: for a file `depth` folders
 * below src/, an import that climbs back to src/ ("../" × depth) and names nothing allowed is
 * reported. src/cli/ and src/index.ts assemble everything and are not restricted.
 */
const SHARED = ['errors', 'log', 'defaults'];
const LAYERS = [
  { folder: 'protocol', may: ['errors'] },
  { folder: 'client', may: ['protocol', 'spawn/native', ...SHARED] },
  { folder: 'spawn', may: ['protocol', ...SHARED] },
  // The pure rules of scaling, reaping and crash loops: nothing but values in, actions out.
  { folder: 'pm/policy', may: ['errors', 'defaults'] },
  { folder: 'pm', may: ['client', 'spawn', ...SHARED] },
  { folder: 'config', may: ['errors', 'defaults'] },
  { folder: 'frontend', may: ['pm', 'client', 'protocol', 'spawn/native', ...SHARED] },
  // Which pool and script serve a request, over the configuration; it implements the front
  // ends' SiteResolver contract (their plain types), so it imports frontend/, never the reverse.
  { folder: 'routing', may: ['config', 'pm', 'frontend', 'spawn', ...SHARED] },
  { folder: 'status', may: ['pm', 'frontend/listen-fd', ...SHARED] },
  { folder: 'systemd', may: ['spawn/fd-hygiene', ...SHARED] },
  { folder: 'worker', may: ['client', 'protocol', 'spawn/native', ...SHARED] },
];

/** Files that break their layer's row, each with what it may import besides. None today. */
const EXCEPTIONS = [];

// Escapes what is special in a regular expression with the u flag ESLint compiles it with.
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The no-restricted-imports options for a file `depth` folders below src/ that may import `may`. */
function restriction(folder, may, depth) {
  const up = '\\.\\./'.repeat(depth);
  // "pm" allows "../pm/pool" and "../pm/policy/scaling"; "spawn/native" allows that module only.
  const allowed = [folder, ...may].map((m) => `${escape(m)}(?:/|$)`).join('|');
  return [
    'error',
    {
      patterns: [
        {
          regex: `^${up}(?!(?:${allowed}))`,
          message: `src/${folder}/ may import only ${may.length > 0 ? may.join(', ') : 'nothing outside itself'} (docs/architecture.md, "Layers").`,
        },
      ],
    },
  ];
}

function layerConfigs() {
  const configs = [];
  for (const { folder, may } of LAYERS) {
    const own = folder.split('/').length;
    // A folder's rule covers its subfolders too, unless a subfolder has a row of its own.
    const sub = LAYERS.filter((l) => l.folder.startsWith(`${folder}/`)).map((l) => `src/${l.folder}/**`);
    for (let depth = own; depth <= own + 2; depth += 1) {
      const files = `src/${folder}/${'*/'.repeat(depth - own)}*.ts`;
      configs.push({ files: [files], ignores: sub, rules: { 'no-restricted-imports': restriction(folder, may, depth) } });
    }
  }
  for (const { file, may } of EXCEPTIONS) {
    const depth = file.split('/').length - 2;
    const layer = LAYERS.find((l) => file.startsWith(`src/${l.folder}/`));
    configs.push({ files: [file], rules: { 'no-restricted-imports': restriction(layer.folder, [...layer.may, ...may], depth) } });
  }
  // errors.ts and defaults.ts import nothing of ours, log.ts only errors.ts: every layer may use them.
  configs.push({ files: ['src/defaults.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.', message: 'src/defaults.ts imports nothing of ours: every layer uses it.' }] }] } });
  configs.push({ files: ['src/errors.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.', message: 'src/errors.ts imports nothing of ours: every layer uses it.' }] }] } });
  configs.push({ files: ['src/log.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '^\\.(?!/errors$)', message: 'src/log.ts may import only errors.ts: every layer uses it.' }] }] } });
  return configs;
}

export default tseslint.config(
  { ignores: ['dist/', 'dist-*/', 'build/', 'node_modules/', 'coverage/', 'fixtures/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  ...layerConfigs(),
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);

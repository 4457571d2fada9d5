/**
 * Three projects: `unit` — tests that start no process and no server (protocol, config, policy,
 * pure modules, the pool on a fake clock with in-memory workers), seconds in all:
 *   npx jest --selectProjects unit
 * and `e2e` — everything else (real workers, fcgipm, nginx, php-cgi...). `npm test` runs both.
 * A new test file is e2e unless its path matches UNIT below. The third, `reliability`
 * (test/reliability/), is faults under load, hostile clients and apps, fuzzing and security
 * checks with figures: `npm run test:reliability` runs it alone, one file at a time, and writes
 * docs/reliability.md from what it measured (scripts/test-reliability.js).
 */
const UNIT = [
  'protocol/**',
  'pm/policy/**',
  'pm/wait-queue.test.ts',
  'pm/pool-lifecycle.test.ts',
  'config/merge.test.ts',
  'config/units.test.ts',
  'config/load.test.ts',
  'cli/run-args.test.ts',
  'cli/command-path.test.ts',
  'client/request-bytes.test.ts',
  'client/connection.test.ts',
  'frontend/access-log.test.ts',
  'frontend/http-replay.test.ts',
  'routing/**',
  'spawn/output-lines.test.ts',
  'spawn/ipc-dir.test.ts',
  'spawn/fd-hygiene.test.ts',
  'spawn/user-db.test.ts',
  'systemd/listen-fds.test.ts',
  'packaging/dockerfile.test.ts',
];

/** 'pm/policy/**' → a regular expression on the test file's path, for e2e to leave them out. */
function globToRegExp(glob) {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*\*/g, '\u0000')
    .replace(/\*/g, '[^/]*')
    .replace(/\u0000/g, '.*');
  return `<rootDir>/test/${body}$`;
}

const common = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
};

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests start real worker processes; two cores, so keep parallelism modest.
  maxWorkers: 2,
  testTimeout: 60000,
  // One temp root per run, removed at its end (test/helpers/temp-root.js). Top-level options:
  // they run once per jest run, whichever projects it selects.
  globalSetup: '<rootDir>/test/helpers/global-setup.js',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.js',
  projects: [
    { ...common, displayName: 'unit', testMatch: UNIT.map((g) => `<rootDir>/test/${g.endsWith('**') ? `${g}/*.test.ts` : g}`) },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/reliability/', ...UNIT.map(globToRegExp)] },
    { ...common, displayName: 'reliability', testMatch: ['<rootDir>/test/reliability/**/*.test.ts'] },
  ],
};

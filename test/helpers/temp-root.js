'use strict';
/**
 * jest's globalSetup and globalTeardown: every temp dir a test run makes — the tests' own,
 * and those of the servers and apps they start (body spools, php-cgi's uploads) — goes under
 * one directory of its own, set as TMPDIR before the test workers start, and removed with
 * everything in it when the run ends. A run leaves nothing behind in /tmp, and runs at the
 * same time on one machine never touch each other's files.
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const KEY = 'FCGIPM_TEST_TMP_ROOT';

async function setup() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'fcgipm-jest-'));
  // Workers that tests start as another user (nobody) reach their sockets and programs
  // through it; the directories the tests make inside keep their own modes.
  fs.chmodSync(root, 0o755);
  process.env[KEY] = root;
  process.env.TMPDIR = root;
}

async function teardown() {
  const root = process.env[KEY];
  if (root) fs.rmSync(root, { recursive: true, force: true });
}

module.exports = { setup, teardown };

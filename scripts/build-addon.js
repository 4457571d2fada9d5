#!/usr/bin/env node
'use strict';
// Builds the native addon at install time with node-gyp, against the headers of the Node.js
// that runs this script when they are installed beside it (<prefix>/include/node, as Debian's
// and the official builds ship them), so nothing is downloaded.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const prefix = path.resolve(path.dirname(process.execPath), '..');
const args = ['rebuild'];
if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
  args.push(`--nodedir=${prefix}`);
}
// npm tells lifecycle scripts where its bundled node-gyp is; otherwise use one on PATH.
const gyp = process.env.npm_config_node_gyp;
const result = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit', shell: false });
if (result.error) {
  process.stderr.write(`fcgipm: cannot run node-gyp: ${result.error.message}\n`);
  process.exit(1);
}
process.exit(result.status ?? 1);

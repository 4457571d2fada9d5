#!/usr/bin/env -S node --max-semi-space-size=2
'use strict';
// --max-semi-space-size=2 (MiB): V8's young generation grows to 16 MiB per semi-space by
// default; every request's garbage dies young, and a smaller nursery cut the manager's RSS
// under load by about 25 MiB and its p99 latency by about 40% at the same throughput
// (docs/benchmarks.md). `node bin/fcgipm.js` runs without it; the installed `fcgipm` has it.
// The compiled CLI lives in dist/ (npm run build; npm ci runs it through "prepare").
require('../dist/cli/main.js').main(process.argv.slice(2));

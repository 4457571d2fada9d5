#!/usr/bin/env node
'use strict';
// The compiled CLI lives in dist/ (npm run build; npm ci runs it through "prepare").
require('../dist/cli/main.js').main(process.argv.slice(2));

#!/usr/bin/env node
// Launcher: runs the built bundle in this very process, so signals reach it directly.
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write('st-discovery is not built: run `npm run build` in the repository first\n');
  process.exit(1);
}
require(main);

#!/usr/bin/env node
'use strict';
// Loads the bundle in this process rather than spawning one, so signals reach the server directly.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const main = join(__dirname, '..', 'dist', 'main.js');
if (!existsSync(main)) {
  process.stderr.write('st-mock-model is not built: run `npm run build` first\n');
  process.exit(1);
}
require(main);

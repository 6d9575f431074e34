#!/usr/bin/env node
// Bundles apps/<name>/src/main.ts into apps/<name>/dist/main.js (CommonJS, Node 20).
// Our libraries are bundled in (resolved through tsconfig.base.json's paths); npm packages stay
// external and load from node_modules, since some are native (better-sqlite3).
import { build } from 'esbuild';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const app = process.argv[2];
if (!app) {
  process.stderr.write('usage: build-app.mjs apps/<name>\n');
  process.exit(2);
}
await build({
  entryPoints: [join(root, app, 'src/main.ts')],
  outfile: join(root, app, 'dist/main.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  packages: 'external',
  tsconfig: join(root, 'tsconfig.base.json'),
  sourcemap: true,
  logLevel: 'warning',
});

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// The same path aliases as tsconfig.base.json, so tests import libraries by their public name.
const paths: Record<string, string[]> = JSON.parse(readFileSync(resolve(import.meta.dirname, 'tsconfig.base.json'), 'utf8'))
  .compilerOptions.paths;
// Exact matches: a plain key would also catch '@st/proto/es' as '@st/proto' + '/es'.
const alias = Object.entries(paths).map(([name, [target]]) => ({
  find: new RegExp(`^${name.replace(/[/.]/g, '\\$&')}$`),
  replacement: resolve(import.meta.dirname, target),
}));

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['apps/*/src/**/*.spec.ts', 'libs/*/src/**/*.spec.ts', 'e2e/**/*.spec.ts', 'tools/**/*.spec.ts'],
    environment: 'node',
    // End-to-end files start real processes; two cores are all there is.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});

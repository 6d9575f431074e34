import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository root (this file is libs/testing/src/built-apps.ts). */
export const REPO_ROOT = resolve(import.meta.dirname, '..', '..', '..');

/** The apps end-to-end tests run, by their directory under apps/. */
export type AppName = 'server' | 'agent' | 'mock-model' | 'discovery';

const BINARIES: Record<AppName, string> = {
  server: 'st-server.js',
  agent: 'st-agent.js',
  'mock-model': 'st-mock-model.js',
  discovery: 'st-discovery.js',
};

/**
 * The launcher of a built app. Tests run the real bundles, never the sources, so a missing
 * bundle is a setup mistake that gets a message saying what to do rather than a spawn error.
 */
export function builtApp(app: AppName): string {
  const bundle = join(REPO_ROOT, 'apps', app, 'dist', 'main.js');
  if (!existsSync(bundle)) {
    throw new Error(`apps/${app}/dist/main.js is missing: run npm run build first (end-to-end tests run the built apps)`);
  }
  return join(REPO_ROOT, 'apps', app, 'bin', BINARIES[app]);
}

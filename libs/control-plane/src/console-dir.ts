import { resolve } from 'node:path';

/**
 * Where the web console's build is at run time: every server app is bundled by esbuild into
 * apps/<app>/dist/main.js (tools/build/build-app.mjs), so `__dirname` is that directory and the
 * console's Vite build (apps/console/dist) sits two levels up. The container image and
 * install-server.sh keep that layout; ST_CONSOLE_DIR names another place.
 */
export function builtConsoleDir(): string {
  return resolve(__dirname, '..', '..', 'console', 'dist');
}

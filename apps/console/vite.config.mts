import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The web console, built into apps/console/dist, which the gateway serves at `/` (see
// libs/gateway/src/console-site.ts). Everything is bundled: no CDN, no request but to the gateway.
const root = resolve(import.meta.dirname, '..', '..');
const paths: Record<string, string[]> = JSON.parse(readFileSync(resolve(root, 'tsconfig.base.json'), 'utf8')).compilerOptions.paths;

// `npx vite --config apps/console/vite.config.mts` serves the sources with hot reload and passes
// the API to a running gateway (`npm start`'s, unless ST_CONSOLE_GATEWAY names another).
const gateway = process.env.ST_CONSOLE_GATEWAY ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  resolve: {
    // Only the protobuf-es face of @st/proto: the browser needs no gRPC code.
    alias: [{ find: /^@st\/proto\/es$/, replacement: resolve(root, paths['@st/proto/es'][0]) }],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // One entry chunk: no preload helper needed, and its polyfill would be dead code.
    modulePreload: { polyfill: false },
    // Small images would be inlined as data: URLs (img-src allows data:); nothing else may be.
    assetsInlineLimit: 4096,
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: Object.fromEntries(['/t/', '/v1/', '/sessiontunnel.v1.'].map((prefix) => [prefix, { target: gateway }])),
  },
});

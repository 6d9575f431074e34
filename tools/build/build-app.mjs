#!/usr/bin/env node
// Bundles apps/<name>/src/main.ts into apps/<name>/dist/main.js (CommonJS, Node 20).
// Our libraries are bundled in (resolved through tsconfig.base.json's paths); npm packages stay
// external and load from node_modules, since some are native (better-sqlite3).
//
// `--standalone FILE` bundles every npm package too, into apps/<name>/dist/FILE, which then runs
// with plain `node` and no node_modules (st-agent ships into session images that way);
// dist/main.js becomes a one-line shim that loads it, so the launcher and the tests run the very
// file that ships.
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..', '..');
const { values, positionals } = parseArgs({ options: { standalone: { type: 'string' } }, allowPositionals: true });
const app = positionals[0];
if (!app || positionals.length > 1) {
  process.stderr.write('usage: build-app.mjs apps/<name> [--standalone <file>.js]\n');
  process.exit(2);
}

/**
 * Packages that read .proto files from their own directory as soon as they are loaded: a
 * standalone bundle does not carry those files, so one of these in its output would fail at
 * start-up (ENOENT on health/v1/health.proto), far from the import that caused it. The build fails
 * instead. (@grpc/proto-loader itself may stay: grpc-js requires it lazily, for channelz only.)
 */
const READS_FILES_AT_LOAD = ['@grpc/reflection', 'grpc-health-check'];

/**
 * Our libraries have no import-time side effects, so a module of theirs that nothing uses may be
 * dropped. This keeps `@st/grpc-kit`'s server half (health service, reflection: both load .proto
 * files) out of a client-only bundle that imports the library's index for its channel options.
 */
const ourLibrariesAreSideEffectFree = {
  name: 'our-libraries-are-side-effect-free',
  setup(b) {
    const libs = join(root, 'libs') + sep;
    b.onResolve({ filter: /^(@st\/|\.\.?\/)/ }, async (args) => {
      if (args.pluginData?.fromPlugin) return undefined;
      const resolved = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { fromPlugin: true },
      });
      if (resolved.errors.length > 0) return { errors: resolved.errors };
      return resolved.path.startsWith(libs) ? { ...resolved, sideEffects: false } : resolved;
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  tsconfig: join(root, 'tsconfig.base.json'),
  sourcemap: true,
  logLevel: 'warning',
  // Free `Buffer` and `performance` read from modules, not the accessor globals (node-globals.mjs says why).
  inject: [join(root, 'tools/build/node-globals.mjs')],
};

if (values.standalone) {
  const outfile = join(root, app, 'dist', values.standalone);
  const result = await build({
    ...common,
    entryPoints: [join(root, app, 'src/main.ts')],
    outfile,
    metafile: true,
    plugins: [ourLibrariesAreSideEffectFree],
    // A bundle of everything has no package.json beside it; say so in its first line.
    banner: { js: `// ${values.standalone}: self-contained build of ${app}; runs with plain node, no node_modules.` },
  });
  // Inputs that made it into the output: the metafile's top-level list also has tree-shaken ones.
  const output = Object.values(result.metafile.outputs).find((o) => o.entryPoint);
  const included = Object.entries(output.inputs).filter(([, i]) => i.bytesInOutput > 0).map(([path]) => path);
  const offenders = included.filter((input) =>
    READS_FILES_AT_LOAD.some((pkg) => input.includes(`node_modules/${pkg}/`)),
  );
  if (offenders.length > 0) {
    const packages = [...new Set(offenders.map((i) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(i)[1]))];
    process.stderr.write(
      `${app}: the standalone bundle pulls in ${packages.join(', ')}, which read(s) .proto files at load time ` +
        `and would fail without node_modules. Import the client-side modules directly instead of a server-side index.\n`,
    );
    process.exit(1);
  }
  rmSync(join(root, app, 'dist', 'main.js.map'), { force: true });
  writeFileSync(
    join(root, app, 'dist', 'main.js'),
    `// Loads the standalone bundle, so everything that runs dist/main.js runs what ships.\nrequire('./${values.standalone}');\n`,
  );
  process.stdout.write(`${relative(root, outfile)}: ${(output.bytes / 1e6).toFixed(1)} MB\n`);
} else {
  await build({
    ...common,
    entryPoints: [join(root, app, 'src/main.ts')],
    outfile: join(root, app, 'dist/main.js'),
    packages: 'external',
    // stctl starts on every call: leaving unused server halves out keeps their imports from loading.
    plugins: [ourLibrariesAreSideEffectFree],
  });
}

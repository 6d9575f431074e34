// Injected into every bundle (esbuild `inject`): a bundled module's free `Buffer` and
// `performance` become these imports. Node defines both globals as accessors on globalThis, so
// each read of the global in hot code is a getter call through LoadGlobalIC (about 150
// instructions: callgrind of st-server counted 14 per small chat completion on the gateway,
// broker and frame paths), where a module binding is an ordinary property load.
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';

export { Buffer, performance };

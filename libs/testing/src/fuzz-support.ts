import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Helpers for the property-based fuzzers (`*.fuzz.spec.ts`): one seed for every run, printed so
 * that a failure can be replayed (`FUZZ_SEED=<seed> npx vitest run <file>`), and a forced GC for
 * the heap bound.
 */

/** The seed from FUZZ_SEED, else the fixed one: CI runs the same cases every time. */
export function fuzzSeed(fixed = 20261201): number {
  const raw = process.env.FUZZ_SEED;
  if (raw === undefined || raw === '') return fixed;
  const seed = Number(raw);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not ${JSON.stringify(raw)}`);
  return seed | 0;
}

/** Runs per property: FUZZ_RUNS overrides the file's default (more for a long local hunt). */
export function fuzzRuns(fallback: number): number {
  const raw = Number(process.env.FUZZ_RUNS);
  return Number.isSafeInteger(raw) && raw > 0 ? raw : fallback;
}

let gc: (() => void) | undefined;

/**
 * A full, synchronous GC. Vitest's forks do not run with --expose-gc; the flag can still be set at
 * run time, and a fresh context then sees the `gc` global.
 */
export function forceGc(): void {
  if (!gc) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gc = exposed;
    else {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
  }
  gc();
}

/**
 * What JavaScript holds, after timers and sockets had a few turns to let go and two full GCs: the
 * V8 heap plus the memory of ArrayBuffers (Buffers and Uint8Arrays live outside heapUsed, and a
 * queued request body is exactly that).
 */
export async function settledHeapBytes(): Promise<number> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 20));
  forceGc();
  await new Promise((r) => setImmediate(r));
  forceGc();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/**
 * `bytes` cut at the given offsets (each taken modulo length + 1, deduplicated, sorted), as views
 * of it: the chunks a stream reader may be handed, for properties that hold wherever they split.
 */
export function chunksAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

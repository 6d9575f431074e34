import { randomFillSync } from 'node:crypto';

// One getrandom() call serves 256 ids: per-request crypto calls would show up on the benchmark's hot path.
const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

/** 32 random hex characters, the shape of vLLM's response ids (`chatcmpl-<hex>`). */
export function randomHex(): string {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + 16);
  offset += 16;
  return hex;
}

/** Unix seconds, as OpenAI's `created` fields. */
export function unixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

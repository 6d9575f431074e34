import { randomHex, unixSeconds } from './ids';
import type { EmbeddingRequest } from './request-validation';

/**
 * A unit-length vector drawn from mulberry32 seeded by the input's hash: the same input always
 * gives the same vector, different inputs give unrelated ones. Float32 like real models, so
 * the float and base64 encodings carry identical values.
 */
export function embeddingVector(seed: number, dims: number): Float32Array {
  const vec = new Float32Array(dims);
  let state = seed >>> 0;
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const v = ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
    vec[i] = v;
    norm += v * v;
  }
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (let i = 0; i < dims; i++) vec[i] *= scale;
  return vec;
}

/** The `/v1/embeddings` answer body. */
export function embeddingResponse(request: EmbeddingRequest): string {
  const data = request.seeds.map((seed, index) => {
    const vec = embeddingVector(seed, request.dims);
    const embedding = request.base64
      ? Buffer.from(vec.buffer, vec.byteOffset, vec.byteLength).toString('base64')
      : Array.from(vec);
    return { object: 'embedding', index, embedding };
  });
  return JSON.stringify({
    id: `embd-${randomHex()}`,
    object: 'list',
    created: unixSeconds(),
    model: request.model,
    data,
    usage: { prompt_tokens: request.promptTokens, total_tokens: request.promptTokens, completion_tokens: 0 },
  });
}

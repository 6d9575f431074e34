import { describe, expect, it } from 'vitest';
import { JOIN_BELOW_BYTES, bodySegments } from './body-segments';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const joined = (segments: Uint8Array[]) => Buffer.concat(segments);

describe('bodySegments', () => {
  it('joins the small parts of one turn (SSE events) into one body', () => {
    const parts = [bytes(100, 1), bytes(200, 2), bytes(300, 3)];
    const segments = bodySegments(parts, 64 * 1024);
    expect(segments).toHaveLength(1);
    expect(joined(segments).equals(Buffer.concat(parts))).toBe(true);
  });

  it('passes large parts on as views of the same memory, cut at max', () => {
    const big = bytes(150 * 1024, 7);
    const segments = bodySegments([big], 64 * 1024);
    expect(segments.map((s) => s.length)).toEqual([64 * 1024, 64 * 1024, 22 * 1024]);
    for (const s of segments) expect(s.buffer).toBe(big.buffer);
  });

  it('keeps the byte order across mixed small and large parts, and never exceeds max', () => {
    const max = 64 * 1024;
    const parts = [bytes(10, 1), bytes(JOIN_BELOW_BYTES, 2), bytes(5, 3), bytes(max - 2, 4), bytes(3, 5), bytes(200 * 1024, 6), bytes(1, 7)];
    const segments = bodySegments(parts, max);
    expect(joined(segments).equals(Buffer.concat(parts))).toBe(true);
    for (const s of segments) expect(s.length).toBeLessThanOrEqual(max);
    expect(segments.every((s) => s.length > 0)).toBe(true);
  });

  it('gives nothing for no bytes', () => {
    expect(bodySegments([], 1024)).toEqual([]);
    expect(bodySegments([new Uint8Array(0)], 1024)).toEqual([]);
  });
});

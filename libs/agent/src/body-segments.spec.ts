import { describe, expect, it } from 'vitest';
import { type BodySegment, bodySegments, joinedSegment } from './body-segments';

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const joined = (segments: BodySegment[]) => Buffer.concat(segments.map(joinedSegment));

describe('bodySegments', () => {
  it('puts the small parts of one turn (SSE events) in one body, as views of the same memory', () => {
    const parts = [bytes(100, 1), bytes(200, 2), bytes(300, 3)];
    const segments = bodySegments(parts, 64 * 1024);
    expect(segments).toHaveLength(1);
    expect(segments[0].bytes).toBe(600);
    segments[0].parts.forEach((p, i) => expect(p).toBe(parts[i]));
    expect(joined(segments).equals(Buffer.concat(parts))).toBe(true);
  });

  it('cuts large parts at max, as views', () => {
    const big = bytes(150 * 1024, 7);
    const segments = bodySegments([big], 64 * 1024);
    expect(segments.map((s) => s.bytes)).toEqual([64 * 1024, 64 * 1024, 22 * 1024]);
    for (const s of segments) for (const p of s.parts) expect(p.buffer).toBe(big.buffer);
  });

  it('keeps the byte order across mixed small and large parts, fills bodies up to max and never past it', () => {
    const max = 64 * 1024;
    const parts = [bytes(10, 1), bytes(16 * 1024, 2), bytes(5, 3), bytes(max - 2, 4), bytes(3, 5), bytes(200 * 1024, 6), bytes(1, 7)];
    const segments = bodySegments(parts, max);
    expect(joined(segments).equals(Buffer.concat(parts))).toBe(true);
    const total = parts.reduce((n, p) => n + p.length, 0);
    expect(segments.map((s) => s.bytes)).toEqual([...Array(Math.floor(total / max)).fill(max), total % max].filter((n) => n > 0));
    for (const s of segments) expect(s.parts.reduce((n, p) => n + p.length, 0)).toBe(s.bytes);
  });

  it('gives nothing for no bytes', () => {
    expect(bodySegments([], 1024)).toEqual([]);
    expect(bodySegments([new Uint8Array(0)], 1024)).toEqual([]);
  });
});

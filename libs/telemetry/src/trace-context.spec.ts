import { describe, expect, it } from 'vitest';
import { formatTraceparent, parseTraceparent, traceIdOf } from './trace-context';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('parseTraceparent', () => {
  it('reads a valid version-00 value, sampled or not', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
    // Other flag bits are ignored, only bit 0 says sampled; surrounding whitespace is allowed.
    expect(parseTraceparent(`  00-${TRACE}-${SPAN}-03 `)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent([VALID])).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
  });

  it('reads the first four fields of a later version', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`)).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01x`)).toBeUndefined();
  });

  it('rejects version ff, all-zero ids, upper case, bad lengths and separators, and repeated headers', () => {
    for (const bad of [
      `ff-${TRACE}-${SPAN}-01`,
      `00-${'0'.repeat(32)}-${SPAN}-01`,
      `00-${TRACE}-${'0'.repeat(16)}-01`,
      `00-${TRACE.toUpperCase()}-${SPAN}-01`,
      `0A-${TRACE}-${SPAN}-01`,
      `00-${TRACE}-${SPAN}-0g`,
      `00-${TRACE}-${SPAN}-01-extra`,
      `00-${TRACE.slice(1)}-${SPAN}-01`,
      `00_${TRACE}_${SPAN}_01`,
      `00-${TRACE}-${SPAN}`,
      `${VALID}, ${VALID}`,
      '',
      'garbage',
    ]) {
      expect(parseTraceparent(bad), bad).toBeUndefined();
    }
    expect(parseTraceparent(undefined)).toBeUndefined();
    expect(parseTraceparent([VALID, VALID])).toBeUndefined();
  });
});

describe('formatTraceparent and traceIdOf', () => {
  it('write version 00 with only the sampled flag, and read back', () => {
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: true })).toBe(VALID);
    expect(formatTraceparent({ traceId: TRACE, spanId: SPAN, sampled: false })).toBe(`00-${TRACE}-${SPAN}-00`);
    const made = formatTraceparent(parseTraceparent(`00-${TRACE}-${SPAN}-ff`)!);
    expect(made).toBe(VALID);
    expect(traceIdOf(made)).toBe(TRACE);
    expect(traceIdOf('not one')).toBeUndefined();
    expect(traceIdOf(undefined)).toBeUndefined();
  });
});

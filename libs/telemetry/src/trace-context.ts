/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the `traceparent` header that ties a
 * request's spans together across processes, `00-<trace id>-<parent span id>-<flags>`. Parsed by
 * hand: it is 55 characters, and the gateway reads it on every request while tracing is on.
 */

/** A parsed `traceparent`: whose trace, which span is the parent, and whether it is sampled. */
export interface TraceParent {
  /** 32 lowercase hex digits, not all zero. */
  traceId: string;
  /** 16 lowercase hex digits, not all zero. */
  spanId: string;
  /** The sampled flag (bit 0 of trace-flags): the caller records this trace. */
  sampled: boolean;
}

/** Length of a version-00 `traceparent`. */
const LENGTH_V00 = 55;
const HEX_LC = /^[0-9a-f]+$/;
const ALL_ZERO = /^0+$/;

/**
 * The `traceparent` a caller sent, or undefined when it is missing or invalid (the caller then
 * gets a new trace). Invalid: not lowercase hex, version `ff`, an all-zero trace or span id, a
 * version-00 value of the wrong length, or several values (node:http joins repeated headers with
 * ", ", which makes the value too long). A later version is read for its first four fields, as
 * the spec asks, when what follows them starts with "-".
 */
export function parseTraceparent(header: string | string[] | undefined): TraceParent | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) {
    if (header.length !== 1) return undefined;
    header = header[0];
  }
  const value = header.trim();
  if (value.length < LENGTH_V00) return undefined;
  const version = value.slice(0, 2);
  if (!HEX_LC.test(version) || version === 'ff') return undefined;
  if (version === '00' ? value.length !== LENGTH_V00 : value.length > LENGTH_V00 && value[LENGTH_V00] !== '-') return undefined;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!HEX_LC.test(traceId) || !HEX_LC.test(spanId) || !HEX_LC.test(flags)) return undefined;
  if (ALL_ZERO.test(traceId) || ALL_ZERO.test(spanId)) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/** A version-00 `traceparent`; only the sampled flag is set, as the spec asks of a version-00 writer. */
export function formatTraceparent(parent: TraceParent): string {
  return `00-${parent.traceId}-${parent.spanId}-${parent.sampled ? '01' : '00'}`;
}

/** The trace id of a `traceparent` value, for log lines; undefined when it is not valid. */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  return parseTraceparent(traceparent)?.traceId;
}

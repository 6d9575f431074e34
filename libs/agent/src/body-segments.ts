/** One Data frame's body: views of undici's buffers, `bytes` in all. */
export interface BodySegment {
  parts: Uint8Array[];
  bytes: number;
}

/**
 * Cuts what one turn gathered into Data-frame bodies of at most `max` bytes. Nothing is copied
 * here: a body keeps its parts (one SSE event each, or a socket read of a big answer) as views,
 * and the frame encoder writes them straight into the message (GatheredData), so a token stream
 * costs a frame per turn rather than per event and each byte is copied once.
 */
export function bodySegments(parts: readonly Uint8Array[], max: number): BodySegment[] {
  // Most flushes of a token stream: one SSE event, which goes on as it is.
  if (parts.length === 1) {
    const only = parts[0];
    if (only.length > 0 && only.length <= max) return [{ parts: [only], bytes: only.length }];
  }
  const out: BodySegment[] = [];
  let group: BodySegment = { parts: [], bytes: 0 };
  for (const part of parts) {
    for (let offset = 0; offset < part.length; ) {
      if (group.bytes === max) {
        out.push(group);
        group = { parts: [], bytes: 0 };
      }
      const take = Math.min(part.length - offset, max - group.bytes);
      group.parts.push(take === part.length ? part : part.subarray(offset, offset + take));
      group.bytes += take;
      offset += take;
    }
  }
  if (group.bytes > 0) out.push(group);
  return out;
}

/** A segment as one array: a view when it is one part, else a copy (the head's body, once per answer). */
export function joinedSegment(segment: BodySegment): Uint8Array {
  return segment.parts.length === 1 ? segment.parts[0] : Buffer.concat(segment.parts, segment.bytes);
}

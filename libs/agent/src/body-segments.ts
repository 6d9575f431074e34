/** Parts at least this large travel as views of undici's buffers; smaller ones are joined. */
export const JOIN_BELOW_BYTES = 16 * 1024;

/**
 * Cuts what one turn gathered into Data-frame bodies of at most `max` bytes. Small parts (one SSE
 * event each) are joined, so a token stream costs a frame per turn rather than per event; large
 * parts (socket reads of a big answer) are passed on as views, since the frame encoder copies each
 * body once into its message anyway and a join here would copy every byte a second time.
 */
export function bodySegments(parts: readonly Uint8Array[], max: number): Uint8Array[] {
  // Most flushes of a token stream: one SSE event, which goes on as it is (no closure, no group).
  if (parts.length === 1) {
    const only = parts[0];
    if (only.length > 0 && only.length <= max) return [only];
  }
  const out: Uint8Array[] = [];
  let group: Uint8Array[] = [];
  let groupBytes = 0;
  const closeGroup = (): void => {
    if (group.length === 1) out.push(group[0]);
    else if (group.length > 1) out.push(Buffer.concat(group, groupBytes));
    group = [];
    groupBytes = 0;
  };
  for (const part of parts) {
    if (part.length === 0) continue;
    if (part.length >= JOIN_BELOW_BYTES) {
      closeGroup();
      for (let offset = 0; offset < part.length; offset += max) out.push(part.subarray(offset, Math.min(part.length, offset + max)));
      continue;
    }
    if (groupBytes + part.length > max) closeGroup();
    group.push(part);
    groupBytes += part.length;
  }
  closeGroup();
  return out;
}

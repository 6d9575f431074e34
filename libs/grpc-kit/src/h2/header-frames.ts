import { FLAG, FRAME, encodeFrame } from './h2-frames';

/** A header block as HEADERS and, past the peer's SETTINGS_MAX_FRAME_SIZE, CONTINUATION frames. */
export function headerFrames(streamId: number, block: Buffer, endStream: boolean, maxFrameSize: number): Buffer[] {
  const endFlag = endStream ? FLAG.END_STREAM : 0;
  if (block.length <= maxFrameSize) return [encodeFrame(FRAME.HEADERS, FLAG.END_HEADERS | endFlag, streamId, block)];
  const frames: Buffer[] = [];
  for (let at = 0; at < block.length; at += maxFrameSize) {
    const last = at + maxFrameSize >= block.length;
    const type = at === 0 ? FRAME.HEADERS : FRAME.CONTINUATION;
    const flags = (at === 0 ? endFlag : 0) | (last ? FLAG.END_HEADERS : 0);
    frames.push(encodeFrame(type, flags, streamId, block.subarray(at, at + maxFrameSize)));
  }
  return frames;
}

import { describe, expect, it } from 'vitest';
import { HpackDecoder } from './hpack-decoder';
import { encodeHeaderBlock } from './hpack-encoder';

describe('encodeHeaderBlock', () => {
  it('uses a static index for a whole match, an indexed name for a name match, else a literal name', () => {
    const block = encodeHeaderBlock([
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '0'],
    ]);
    expect(block.toString('hex')).toBe(
      '88' + // :status 200 is static index 8
        '0f10' + '10' + Buffer.from('application/grpc').toString('hex') + // name index 31 = 15 + 16
        '00' + '0b' + Buffer.from('grpc-status').toString('hex') + '01' + '30',
    );
  });

  it('is decoded back to the same list and leaves the decoder table empty', () => {
    const headers: Array<[string, string]> = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-accept-encoding', 'identity,deflate,gzip'],
      ['x-long', 'v'.repeat(300)],
      ['', ''],
    ];
    const decoder = new HpackDecoder();
    expect(decoder.decode(encodeHeaderBlock(headers))).toEqual({ headers, oversize: false });
    expect(decoder.dynamicTableLength).toBe(0);
  });
});

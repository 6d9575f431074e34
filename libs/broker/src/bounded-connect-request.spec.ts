import { describe, expect, it } from 'vitest';
import { type AgentFrame, ConnectRequest } from '@st/proto';
import { MAX_FRAMES_PER_MESSAGE, decodeConnectRequest } from './bounded-connect-request';

const ping = (nonce: number): AgentFrame => ({ frame: { $case: 'ping', value: { nonce } } });

describe('decodeConnectRequest', () => {
  it('decodes what the generated decoder does', () => {
    const request: ConnectRequest = {
      frames: [
        ping(1),
        { frame: { $case: 'data', value: { exchangeId: 3, chunk: new Uint8Array([1, 2, 3]), end: true } } },
        { frame: { $case: 'credit', value: { exchangeId: 3, bytes: 65536 } } },
      ],
    };
    const bytes = ConnectRequest.encode(request).finish();
    expect(decodeConnectRequest(bytes)).toEqual(ConnectRequest.decode(bytes));
  });

  it('stops decoding a message of more frames than any agent sends, and says so', () => {
    const ok = ConnectRequest.encode({ frames: Array.from({ length: MAX_FRAMES_PER_MESSAGE }, (_, i) => ping(i)) }).finish();
    expect(decodeConnectRequest(ok).frames).toHaveLength(MAX_FRAMES_PER_MESSAGE);
    const one = ConnectRequest.encode({ frames: [ping(7)] }).finish();
    const flood = Buffer.alloc(one.length * 300_000, one); // 300,000 pings, ~2 MB
    const decoded = decodeConnectRequest(flood);
    expect(decoded.oversized).toBe(true);
    expect(decoded.frames).toEqual([]);
  });
});

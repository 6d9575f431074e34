import { ExchangeError, type ExchangeRequest, type ExchangeResponse, type RelayOpen } from '@st/proto';
import { before, begin, cold, data, end, more, requestOpen, responseHead, skip, stopAfter, string, uint32 } from './frame-decoder';

/*
 * RelayService's messages (gateway ↔ broker), decoded as frame-decoder.ts decodes the agent
 * stream's: the same objects as ts-proto's decode, bodies as views.
 */

/** RelayService's client frame (gateway → broker). */
export function decodeExchangeRequest(input: Uint8Array): ExchangeRequest {
  begin(input);
  try {
    const message: ExchangeRequest = { frame: undefined };
    while (more()) {
      const tag = uint32();
      if (tag === 10) message.frame = { $case: 'open', value: relayOpen(uint32()) };
      else if (tag === 18) message.frame = { $case: 'data', value: data(uint32()) };
      else {
        if ((tag & 7) === 4 || tag === 0) break;
        skip(tag & 7);
      }
    }
    return message;
  } finally {
    end();
  }
}

/** RelayService's server frame (broker → gateway). */
export function decodeExchangeResponse(input: Uint8Array): ExchangeResponse {
  begin(input);
  try {
    const message: ExchangeResponse = { frame: undefined };
    while (more()) {
      const tag = uint32();
      if (tag === 10) message.frame = { $case: 'head', value: responseHead(uint32()) };
      else if (tag === 18) message.frame = { $case: 'data', value: data(uint32()) };
      else if (tag === 26) message.frame = { $case: 'error', value: cold(ExchangeError) };
      else {
        if ((tag & 7) === 4 || tag === 0) break;
        skip(tag & 7);
      }
    }
    return message;
  } finally {
    end();
  }
}

function relayOpen(length: number): RelayOpen {
  const stop = stopAfter(length);
  const m: RelayOpen = { tunnelId: '', userId: '', request: undefined, streamId: '' };
  while (before(stop)) {
    const tag = uint32();
    switch (tag) {
      case 10: m.tunnelId = string(); continue;
      case 18: m.userId = string(); continue;
      case 26: m.request = requestOpen(uint32()); continue;
      case 34: m.streamId = string(); continue;
    }
    if ((tag & 7) === 4 || tag === 0) break;
    skip(tag & 7);
  }
  return m;
}

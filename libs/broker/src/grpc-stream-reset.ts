import { constants } from 'node:http2';

interface ClosableStream {
  close(code?: number): void;
  destroyed?: boolean;
}

function isClosable(value: unknown): value is ClosableStream {
  return typeof value === 'object' && value !== null && typeof (value as ClosableStream).close === 'function' && 'rstCode' in value;
}

/**
 * Resets the HTTP/2 stream under a grpc-js server call with ENHANCE_YOUR_CALM, which grpc-js
 * clients report as RESOURCE_EXHAUSTED. grpc-js sends a status only after every queued message
 * was written, so a peer that does not read would never get one, and the call would hold its
 * buffers: a reset frees them at once. grpc-js has no public API for it; the stream is found on
 * the call's internals (ServerDuplexStreamImpl.call → [ServerInterceptingCall.nextCall →]
 * BaseServerInterceptingCall.stream), and when they change this returns false and the caller
 * keeps its graceful end. agent-session.spec.ts ("cuts a stream that does not read") pins it
 * against the installed grpc-js.
 */
export function resetServerCall(call: object, code: number = constants.NGHTTP2_ENHANCE_YOUR_CALM): boolean {
  // The light HTTP/2 stack's call (libs/grpc-kit/src/h2/grpc-light-call.ts) resets its own stream.
  const own = (call as { resetStream?: (code: number) => void }).resetStream;
  if (typeof own === 'function') {
    own.call(call, code);
    return true;
  }
  let node: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 4 && typeof node === 'object' && node !== null; depth++) {
    const stream = (node as { stream?: unknown }).stream;
    if (isClosable(stream)) {
      if (!stream.destroyed) stream.close(code);
      return true;
    }
    node = (node as { nextCall?: unknown }).nextCall;
  }
  return false;
}

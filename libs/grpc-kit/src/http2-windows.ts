import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/**
 * HTTP/2 receive windows of our gRPC servers, set on purpose for a long fat link.
 *
 * Node's defaults are 64 KiB for each stream and 64 KiB for the whole connection: one agent
 * connection then moves at most 64 KiB per round trip, whatever the per-exchange credit says
 * (17 MB took 30 s over a 50 ms round trip, issue 9). The stream window is 8 MiB (an agent's
 * Connect stream carries every exchange of its tunnel, each with up to MAX_RECEIVE_WINDOW of
 * credit), the connection window 16 MiB (room for a replacement stream or a few relay calls
 * beside it). Memory is not reserved by a window: the broker reads agent streams at once (what an
 * agent may send is bounded by the per-exchange credit and the stream's rate limits); only a
 * paused relay upload lets up to one stream window wait in the broker.
 */
export const SERVER_STREAM_WINDOW_BYTES = 8 * 1024 * 1024;
export const SERVER_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * The agent's end: grpc-js honours `grpc-node.flow_control_window` on channels (stream and
 * connection window alike), so request bodies towards a far agent get the same room as answers
 * coming from it. grpc-js reads the agent's stream at once, so the window holds nothing there.
 */
export const CLIENT_FLOW_CONTROL_OPTIONS: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': SERVER_STREAM_WINDOW_BYTES,
};

/**
 * The gateway's relay channel to a broker (split layout): 1 MiB. Each relay call is one exchange
 * and is paused while the gateway's caller does not read, and a paused HTTP/2 stream holds up to
 * its window in the gateway: 8 MiB per stalled reader would undo what the per-exchange credit
 * bounds. Gateways and brokers share a region (a round trip of a millisecond or two), where 1 MiB
 * per round trip is far above what one exchange needs.
 */
export const RELAY_FLOW_CONTROL_OPTIONS: grpc.ChannelOptions = {
  'grpc-node.flow_control_window': 1024 * 1024,
};

export interface Http2Windows {
  stream: number;
  connection: number;
}

/** The one grpc-js internal we rely on: every http2 server it makes (bindAsync, injectors) comes from here. */
interface Http2ServerFactory {
  createHttp2Server(credentials: grpc.ServerCredentials): http2.Http2Server | http2.Http2SecureServer;
}

/**
 * Makes every HTTP/2 session of `server` advertise `windows`. grpc-js 1.14's server ignores
 * `grpc-node.flow_control_window` (grpc-node PR #3058) and exposes neither its http2 servers nor
 * their sessions, so this wraps its `createHttp2Server` method and prepends a 'session' listener
 * (before grpc-js's own, before any stream). Returns false when that method is gone (a grpc-js
 * upgrade changed its internals): the caller logs it, and http2-windows.spec.ts fails loudly.
 */
export function applyServerWindows(
  server: grpc.Server,
  windows: Http2Windows = { stream: SERVER_STREAM_WINDOW_BYTES, connection: SERVER_CONNECTION_WINDOW_BYTES },
): boolean {
  const internal = server as unknown as Partial<Http2ServerFactory>;
  const original = internal.createHttp2Server;
  if (typeof original !== 'function') return false;
  internal.createHttp2Server = function createHttp2ServerWithWindows(this: unknown, credentials: grpc.ServerCredentials) {
    const h2 = original.call(this, credentials);
    h2.prependListener('session', (session: http2.ServerHttp2Session) => openSessionWindows(session, windows));
    return h2;
  };
  return true;
}

/** New streams get `windows.stream` (SETTINGS_INITIAL_WINDOW_SIZE); the connection gets a WINDOW_UPDATE up to `windows.connection`. */
export function openSessionWindows(session: http2.Http2Session, windows: Http2Windows): void {
  if (session.destroyed) return;
  try {
    session.settings({ initialWindowSize: windows.stream });
    session.setLocalWindowSize(windows.connection);
  } catch {
    // The peer went away during the handshake: nothing to tune.
  }
}

import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/**
 * HTTP/2 receive windows of our gRPC servers, set on purpose for a long fat link.
 *
 * Node's defaults are 64 KiB for each stream and 64 KiB for the whole connection: one agent
 * connection then moves at most 64 KiB per round trip, whatever the per-exchange credit says
 * (17 MB took 30 s over a 50 ms round trip, issue 9). Once its peer is admitted (session-windows.ts)
 * a connection gets an 8 MiB stream window (an agent's Connect stream carries every exchange of its
 * tunnel, each with up to MAX_RECEIVE_WINDOW of credit) and a 16 MiB connection window (room for a
 * replacement stream or a few relay calls beside it).
 *
 * What a window lets wait in the broker: Node hands the connection window back as soon as data
 * arrives, so only stream windows wait for a reader, and a peer may open any number of streams
 * (grpc-js sets no SETTINGS_MAX_CONCURRENT_STREAMS). A stream nobody reads yet (a Connect whose
 * token is being looked up, a relay upload paused while the agent grants no credit) can hold its
 * whole stream window: with 8 MiB from the first byte, twelve paused streams of one unauthenticated
 * connection held 96 MiB. Hence the windows open only after admission; before it every stream has
 * UNADMITTED_STREAM_WINDOW_BYTES, as before issue 9.
 */
export const SERVER_STREAM_WINDOW_BYTES = 8 * 1024 * 1024;
export const SERVER_CONNECTION_WINDOW_BYTES = 16 * 1024 * 1024;
/** The HTTP/2 default (RFC 9113 §6.5.2), which Node keeps: what a stream has until its peer is admitted. */
export const UNADMITTED_STREAM_WINDOW_BYTES = 65_535;

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

export const ADMITTED_WINDOWS: Http2Windows = { stream: SERVER_STREAM_WINDOW_BYTES, connection: SERVER_CONNECTION_WINDOW_BYTES };

/** The one grpc-js internal we rely on: every http2 server it makes (bindAsync, injectors) comes from here. */
interface Http2ServerFactory {
  createHttp2Server(credentials: grpc.ServerCredentials): http2.Http2Server | http2.Http2SecureServer;
}

/**
 * Calls `listener` with every HTTP/2 session of `server`, before grpc-js's own listener and before
 * any stream. grpc-js 1.14's server ignores `grpc-node.flow_control_window` (grpc-node PR #3058)
 * and exposes neither its http2 servers nor their sessions, so this wraps its `createHttp2Server`
 * method. Returns false when that method is gone (a grpc-js upgrade changed its internals): the
 * caller logs it, and http2-windows.spec.ts fails loudly.
 */
export function watchServerSessions(server: grpc.Server, listener: (session: http2.ServerHttp2Session) => void): boolean {
  const internal = server as unknown as Partial<Http2ServerFactory>;
  const original = internal.createHttp2Server;
  if (typeof original !== 'function') return false;
  internal.createHttp2Server = function createHttp2ServerWatched(this: unknown, credentials: grpc.ServerCredentials) {
    const h2 = original.call(this, credentials);
    h2.prependListener('session', listener);
    return h2;
  };
  return true;
}

/**
 * Streams get `windows.stream` (SETTINGS_INITIAL_WINDOW_SIZE; the new value also resizes the streams
 * already open, RFC 9113 §6.9.2); the connection gets a WINDOW_UPDATE up to `windows.connection`.
 */
export function openSessionWindows(session: http2.Http2Session, windows: Http2Windows): void {
  if (session.destroyed) return;
  try {
    session.settings({ initialWindowSize: windows.stream });
    session.setLocalWindowSize(windows.connection);
  } catch {
    // The peer went away meanwhile: nothing to tune.
  }
}

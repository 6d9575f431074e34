import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { ADMITTED_WINDOWS, type Http2Windows, openSessionWindows, watchServerSessions } from './http2-windows';

/** The part of a grpc-js server call that names its connection. */
export interface PeerCall {
  /** "address:port" of the peer's socket (grpc-js server-interceptors.js), "unknown" once it is gone. */
  getPeer(): string;
}

/**
 * The large HTTP/2 windows (http2-windows.ts), opened per connection once its peer proved who it
 * is. Sessions start with Node's 64 KiB windows; `widen(call)` sends the SETTINGS and WINDOW_UPDATE
 * on the session that carries `call`.
 *
 * grpc-js shows a call's connection only as `getPeer()`, built from the session's socket, so open
 * sessions are kept by that same string (IPv4 "1.2.3.4:5", IPv6 "::1:5", TLS alike: both read the
 * socket's remoteAddress and remotePort). One listening port sees at most one connection from a
 * given address and port, except when it listens on a wildcard and a client reuses its port
 * towards two local addresses: a string that names two sessions widens neither (they keep the
 * small windows and work, only slower), so an unauthenticated connection is never widened by
 * another's admission.
 */
export class SessionWindows {
  private readonly byPeer = new Map<string, http2.ServerHttp2Session[]>();
  private readonly widened = new WeakSet<http2.ServerHttp2Session>();

  constructor(private readonly windows: Http2Windows = ADMITTED_WINDOWS) {}

  /** Tracks every session of `server`; false when grpc-js's internals changed (see watchServerSessions). */
  attach(server: grpc.Server): boolean {
    return watchServerSessions(server, (session) => this.track(session));
  }

  /**
   * Opens the large windows on the connection of `call` (at most once per connection); false when
   * that connection is not known here (gone, or its peer string is ambiguous).
   */
  widen(call: PeerCall): boolean {
    const sessions = this.byPeer.get(call.getPeer());
    if (sessions?.length !== 1) return false;
    const [session] = sessions;
    if (!this.widened.has(session)) {
      this.widened.add(session);
      openSessionWindows(session, this.windows);
    }
    return true;
  }

  /** Open sessions tracked (closed ones are forgotten). */
  get openSessions(): number {
    let n = 0;
    for (const sessions of this.byPeer.values()) n += sessions.length;
    return n;
  }

  private track(session: http2.ServerHttp2Session): void {
    const peer = peerOf(session.socket);
    if (!peer) return;
    const sessions = this.byPeer.get(peer);
    if (sessions) sessions.push(session);
    else this.byPeer.set(peer, [session]);
    session.once('close', () => {
      const left = this.byPeer.get(peer)?.filter((s) => s !== session) ?? [];
      if (left.length > 0) this.byPeer.set(peer, left);
      else this.byPeer.delete(peer);
    });
  }
}

/** The string grpc-js's server call returns from getPeer() for a session on `socket`. */
function peerOf(socket: { remoteAddress?: string; remotePort?: number } | undefined): string | undefined {
  if (!socket?.remoteAddress) return undefined;
  return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
}

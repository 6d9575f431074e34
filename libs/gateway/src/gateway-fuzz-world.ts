import type { Exchange, ExchangeOpener, ExchangeRequestHead, ExchangeSink, ExchangeTarget } from '@st/broker';
import type { Header } from '@st/proto';
import type { Session, Tunnel, User } from '@st/store';
import { TunnelError } from '@st/tunnel-protocol';
import type { GatewayStore } from './caller-auth';

/** The fuzz spec's in-memory installation: users, tunnels, a store and an upstream whose behaviour each request picks. */
export const KEY = 'sk-fuzz-owner';
export const OTHER_KEY = 'sk-fuzz-other';

// ---- the in-memory installation ---------------------------------------------------------------

export const owner: User = { id: 'usr_owner', name: 'owner', createdAt: '2026-01-01T00:00:00Z' };
export const other: User = { id: 'usr_other', name: 'other', createdAt: '2026-01-01T00:00:00Z' };
export const running: Session = { id: 's-run', userId: owner.id, name: 'run', state: 'running', createdAt: '', updatedAt: '' };
export const stoppedSession: Session = { ...running, id: 's-stop', name: 'stop', state: 'stopped' };
export const tunnel = (id: string, name: string, extra: Partial<Tunnel> = {}): Tunnel => ({
  id, userId: owner.id, name, remoteHost: 'localhost', remotePort: 8000, openai: true, state: 'started',
  sessionId: running.id, hasUpstreamKey: false, createdAt: '2026-01-01T00:00:00Z', ...extra,
});
export const TUNNELS: Tunnel[] = [
  tunnel('tun_ai', 'prov'),
  tunnel('tun_web', 'web', { openai: false }),
  tunnel('tun_stopped', 'stopped', { state: 'stopped' }),
  tunnel('tun_session_stopped', 'sleepy', { sessionId: stoppedSession.id }),
  tunnel('tun_noagent', 'gone'),
  tunnel('tun_theirs', 'theirs', { userId: other.id }),
];
export const CONNECTED = new Set(['tun_ai', 'tun_web', 'tun_stopped', 'tun_session_stopped', 'tun_theirs']);

export const store: GatewayStore = {
  authenticateApiKey: async (key) => (key === KEY ? owner : key === OTHER_KEY ? other : null),
  getTunnelForUser: async (userId, id) => TUNNELS.find((t) => t.id === id && t.userId === userId) ?? null,
  getTunnelByName: async (userId, name) => TUNNELS.find((t) => t.name === name && t.userId === userId) ?? null,
  getSession: async (id) => [running, stoppedSession].find((s) => s.id === id) ?? null,
  listTunnels: async (userId) => TUNNELS.filter((t) => t.userId === userId),
};

// ---- the fake upstream (what the agent and the model server would answer) ----------------------

export const BEHAVIOURS = ['json', 'sse', 'echo-length', 'unreachable', 'reset-mid-answer', 'hang', 'odd-status', 'odd-header', 'big'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];

/** Exchanges the fake upstream holds; each must end (answered, failed or cancelled). */
export const live = new Set<FakeExchange>();

export class FakeExchange implements Exchange {
  private ended = false;
  private bodyBytes = 0;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly sink: ExchangeSink,
    private readonly behaviour: Behaviour,
    head: ExchangeRequestHead,
  ) {
    live.add(this);
    this.bodyBytes = head.body.length;
    if (behaviour !== 'echo-length' || head.end) this.later(() => this.answer());
  }

  write(chunk: Uint8Array, end: boolean): Promise<void> {
    if (this.ended) return Promise.resolve();
    this.bodyBytes += chunk.length;
    if (end && this.behaviour === 'echo-length') this.later(() => this.answer());
    return Promise.resolve();
  }

  release(): void {}

  cancel(): void {
    this.end();
  }

  private answer(): void {
    if (this.ended) return;
    const json = [{ name: 'content-type', value: 'application/json' }];
    const sse = [{ name: 'content-type', value: 'text/event-stream' }];
    const bytes = (s: string) => Buffer.from(s);
    switch (this.behaviour) {
      case 'json':
        return this.finish(() => this.sink.head(200, json, bytes('{"ok":true}'), true));
      case 'echo-length':
        return this.finish(() => this.sink.head(200, json, bytes(`{"received":${this.bodyBytes}}`), true));
      case 'big':
        return this.finish(() => this.sink.head(200, [{ name: 'content-type', value: 'application/octet-stream' }], new Uint8Array(300 * 1024), true));
      case 'sse':
        this.sink.head(200, sse, bytes('data: {"n":0}\n\n'), false);
        this.later(() => this.sink.data(bytes('data: {"n":1}\n\n'), false));
        this.later(() => this.finish(() => this.sink.data(bytes('data: [DONE]\n\n'), true)), 2);
        return;
      case 'reset-mid-answer':
        this.sink.head(200, sse, bytes('data: {"n":0}\n\n'), false);
        this.later(() => this.finish(() => this.sink.error(new TunnelError('upstream_reset', 'fuzz: the model server went away'))));
        return;
      case 'unreachable':
        return this.finish(() => this.sink.error(new TunnelError('upstream_unreachable', 'fuzz: connection refused')));
      case 'odd-status':
        // What a broken or hostile model server may send: an informational status as the answer…
        return this.finish(() => this.sink.head(101, [{ name: 'upgrade', value: 'websocket' }], bytes('{}'), true));
      case 'odd-header':
        // … or a CR/LF (a header injection) in a value and a name HTTP cannot carry.
        return this.finish(() => this.sink.head(200, [{ name: 'x-odd', value: 'a\r\nset-cookie: injected=1' }, { name: 'bad name', value: 'v' }], bytes('{}'), true));
      case 'hang':
        return; // until the gateway's first-byte deadline cancels it
    }
  }

  private finish(last: () => void): void {
    if (this.ended) return;
    this.end();
    last();
  }

  private end(): void {
    this.ended = true;
    for (const t of this.timers) clearTimeout(t);
    live.delete(this);
  }

  private later(fn: () => void, turns = 1): void {
    this.timers.push(setTimeout(fn, turns));
  }
}

export const opener: ExchangeOpener = {
  open(target: ExchangeTarget, head: ExchangeRequestHead, sink: ExchangeSink): Exchange {
    if (target.tunnelId === 'tun_noagent') {
      queueMicrotask(() => sink.error(new TunnelError('no_agent', 'fuzz: no agent')));
      return { write: () => Promise.resolve(), release: () => undefined, cancel: () => undefined };
    }
    const behaviour = headerValue(head.headers, 'x-fuzz-upstream') as Behaviour | undefined;
    return new FakeExchange(sink, behaviour && BEHAVIOURS.includes(behaviour) ? behaviour : 'json', head);
  },
};

export function headerValue(headers: Header[], name: string): string | undefined {
  return headers.find((h) => h.name === name)?.value;
}

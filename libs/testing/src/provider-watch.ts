import type * as grpc from '@grpc/grpc-js';
import { type Client, ConnectError, createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { bearerMetadata } from '@st/grpc-kit';
import { ProviderChange, type ProviderDiscoveryServiceClient, type WatchProvidersResponse } from '@st/proto';
import { ProviderDiscoveryService } from '@st/proto/es';
import { type TunnelStatusName, tunnelStatusName } from './control-plane-api';

export type ProviderChangeName = 'ADDED' | 'UPDATED' | 'REMOVED' | 'SYNCED' | 'UNSPECIFIED';

/** A provider as both faces (gRPC and Connect) deliver it, reduced to comparable plain values. */
export interface ProviderView {
  id: string;
  name: string;
  type: string;
  status: TunnelStatusName;
  healthy: boolean;
  models: string[];
  baseUrl: string;
  sessionId: string;
  sessionName: string;
  /** True when the provider carries a last health check time. */
  checked: boolean;
}

/** One WatchProviders event and when (performance.now()) the test received it. */
export interface ProviderEventRecord {
  change: ProviderChangeName;
  provider: ProviderView | undefined;
  at: number;
}

function changeName(change: number): ProviderChangeName {
  switch (change) {
    case ProviderChange.PROVIDER_CHANGE_ADDED:
      return 'ADDED';
    case ProviderChange.PROVIDER_CHANGE_UPDATED:
      return 'UPDATED';
    case ProviderChange.PROVIDER_CHANGE_REMOVED:
      return 'REMOVED';
    case ProviderChange.PROVIDER_CHANGE_SYNCED:
      return 'SYNCED';
    default:
      return 'UNSPECIFIED';
  }
}

interface AnyProvider {
  id: string;
  name: string;
  type: string;
  status: number;
  healthy: boolean;
  models: string[];
  baseUrl: string;
  sessionId: string;
  sessionName: string;
  lastHealthCheck?: unknown;
}

/** Either generator's Provider as a {@link ProviderView}. */
export function providerView(p: AnyProvider): ProviderView {
  return {
    id: p.id,
    name: p.name,
    type: p.type,
    status: tunnelStatusName(p.status),
    healthy: p.healthy,
    models: [...p.models],
    baseUrl: p.baseUrl,
    sessionId: p.sessionId,
    sessionName: p.sessionName,
    checked: p.lastHealthCheck !== undefined && p.lastHealthCheck !== null,
  };
}

/**
 * An open WatchProviders call whose events are recorded as they arrive. Waits fail with the
 * events seen so far, so a wrong sequence explains itself.
 */
export class ProviderWatch {
  readonly events: ProviderEventRecord[] = [];
  /** Set when the stream ended: 'ended' cleanly, or the error it failed with. */
  end: 'ended' | Error | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    readonly face: 'grpc' | 'connect',
    private readonly cancel: () => void,
  ) {}

  record(change: number, provider: AnyProvider | undefined): void {
    this.events.push({ change: changeName(change), provider: provider ? providerView(provider) : undefined, at: performance.now() });
    this.wake();
  }

  finish(end: 'ended' | Error): void {
    this.end ??= end;
    this.wake();
  }

  /** Waits until at least `count` events have arrived; returns the first `count`. */
  async waitForCount(count: number, timeoutMs = 5_000): Promise<ProviderEventRecord[]> {
    await this.waitUntil(() => this.events.length >= count, `${count} events`, timeoutMs);
    return this.events.slice(0, count);
  }

  /** Waits for the first event at or after index `from` that matches; returns it. */
  async waitFor(what: string, match: (e: ProviderEventRecord) => boolean, from = 0, timeoutMs = 5_000): Promise<ProviderEventRecord> {
    let found: ProviderEventRecord | undefined;
    await this.waitUntil(() => (found = this.events.slice(from).find(match)) !== undefined, what, timeoutMs);
    return found!;
  }

  /** The events as "CHANGE name status" lines, for messages and sequence assertions. */
  describe(events = this.events): string[] {
    return events.map((e) => (e.provider ? `${e.change} ${e.provider.name} ${e.provider.status}${e.provider.healthy ? ' healthy' : ''}` : e.change));
  }

  close(): void {
    this.cancel();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitUntil(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done()) {
          cleanup();
          resolve();
        } else if (this.end !== undefined) {
          cleanup();
          reject(new Error(`the ${this.face} watch ended (${this.end instanceof Error ? this.end.message : 'cleanly'}) before ${what}; events: ${JSON.stringify(this.describe())}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${what} on the ${this.face} watch within ${timeoutMs} ms; events: ${JSON.stringify(this.describe())}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

/** Opens WatchProviders over gRPC (grpc-js) as the holder of `secret`. */
export function watchProvidersGrpc(client: ProviderDiscoveryServiceClient, secret: string): ProviderWatch {
  const call = client.watchProviders({}, bearerMetadata(secret));
  const watch = new ProviderWatch('grpc', () => call.cancel());
  call.on('data', (m: WatchProvidersResponse) => watch.record(m.change, m.provider));
  call.on('error', (err: grpc.ServiceError) => watch.finish(err));
  call.on('end', () => watch.finish('ended'));
  return watch;
}

/** A Connect-protocol client of ProviderDiscoveryService on the gateway's HTTP port, as a browser would use it. */
export function connectDiscoveryClient(publicUrl: string): Client<typeof ProviderDiscoveryService> {
  return createClient(ProviderDiscoveryService, createConnectTransport({ baseUrl: publicUrl, httpVersion: '1.1' }));
}

/** Opens WatchProviders over the Connect protocol as the holder of `secret`. */
export function watchProvidersConnect(client: Client<typeof ProviderDiscoveryService>, secret: string): ProviderWatch {
  const abort = new AbortController();
  const watch = new ProviderWatch('connect', () => abort.abort());
  void (async () => {
    try {
      for await (const m of client.watchProviders({}, { headers: { authorization: `Bearer ${secret}` }, signal: abort.signal })) {
        watch.record(m.change, m.provider);
      }
      watch.finish('ended');
    } catch (err) {
      watch.finish(err instanceof ConnectError ? err : new Error(String(err)));
    }
  })();
  return watch;
}

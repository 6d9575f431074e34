import { Code, ConnectError } from '@connectrpc/connect';
import { useEffect, useState } from 'react';
import type { DiscoveryClient } from './connect-clients';
import { type ProviderItem, ProviderList } from './provider-list';

/** Waits between re-watches after a drop: doubled each failure up to the maximum, reset by a sync. */
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 10_000;

export interface ProvidersState {
  providers: ProviderItem[];
  /** True once the first snapshot arrived. */
  synced: boolean;
  /** Why the watch is down (it is being retried unless `fatal`). */
  error: string | undefined;
  /** The key was refused: retrying cannot help, the user must sign in again. */
  fatal: boolean;
}

/**
 * The user's providers, pushed by WatchProviders: one long-lived server stream, re-opened with
 * backoff when it drops (gateway restart, network change) until the component unmounts.
 */
export function useProviders(client: DiscoveryClient): ProvidersState {
  const [state, setState] = useState<ProvidersState>({ providers: [], synced: false, error: undefined, fatal: false });
  useEffect(() => {
    const abort = new AbortController();
    const list = new ProviderList();
    let delay = RETRY_FIRST_MS;
    const run = async () => {
      while (!abort.signal.aborted) {
        list.beginSync();
        try {
          for await (const event of client.watchProviders({}, { signal: abort.signal })) {
            const changed = list.apply(event);
            if (event.change === 4) delay = RETRY_FIRST_MS;
            if (changed) setState({ providers: list.items(), synced: true, error: undefined, fatal: false });
          }
          // The server ended the watch (it restarts, or asks us to re-sync): watch again.
          throw new ConnectError('the provider watch ended', Code.Unavailable);
        } catch (err) {
          if (abort.signal.aborted) return;
          const e = ConnectError.from(err);
          const fatal = e.code === Code.Unauthenticated || e.code === Code.PermissionDenied;
          setState((s) => ({ ...s, error: fatal ? e.rawMessage : `live status lost (${e.rawMessage}): reconnecting…`, fatal }));
          if (fatal) return;
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, RETRY_MAX_MS);
        }
      }
    };
    void run();
    return () => abort.abort();
  }, [client]);
  return state;
}

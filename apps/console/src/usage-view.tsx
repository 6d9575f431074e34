import { Code, ConnectError } from '@connectrpc/connect';
import type { UsageRow } from '@st/proto/es';
import { useCallback, useEffect, useState } from 'react';
import type { UsageClient } from './connect-clients';

type UsageState =
  | { kind: 'loading' }
  | { kind: 'loaded'; rows: UsageRow[] }
  | { kind: 'unavailable'; message: string }
  | { kind: 'error'; message: string };

/** The signed-in user's token usage, per tunnel and model (UsageService.GetUsage over Connect). */
export function UsageView({ client }: { client: UsageClient }) {
  const [state, setState] = useState<UsageState>({ kind: 'loading' });
  const load = useCallback(async () => {
    setState({ kind: 'loading' });
    try {
      const answer = await client.getUsage({});
      setState({ kind: 'loaded', rows: answer.usage });
    } catch (err) {
      const e = ConnectError.from(err);
      // A gateway of an older release has no UsageService: say so rather than fail.
      if (e.code === Code.Unimplemented) {
        setState({ kind: 'unavailable', message: 'Usage is not available on this server: it does not serve UsageService yet.' });
      } else setState({ kind: 'error', message: `cannot read usage: ${e.rawMessage}` });
    }
  }, [client]);
  useEffect(() => void load(), [load]);

  return (
    <section className="card usage" aria-labelledby="usage-title" data-state={state.kind}>
      <div className="usage-head">
        <h2 id="usage-title">Usage</h2>
        <button type="button" onClick={() => void load()} disabled={state.kind === 'loading'}>
          Refresh
        </button>
      </div>
      {state.kind === 'loading' && <p role="status">Loading usage…</p>}
      {state.kind === 'unavailable' && <p role="status">{state.message}</p>}
      {state.kind === 'error' && (
        <p role="alert" className="error">
          {state.message}
        </p>
      )}
      {state.kind === 'loaded' && state.rows.length === 0 && <p role="status">No requests counted yet.</p>}
      {state.kind === 'loaded' && state.rows.length > 0 && (
        <table>
          <caption>Tokens per tunnel and model, largest first</caption>
          <thead>
            <tr>
              <th scope="col">Tunnel</th>
              <th scope="col">Model</th>
              <th scope="col" className="number">Requests</th>
              <th scope="col" className="number">Prompt tokens</th>
              <th scope="col" className="number">Completion tokens</th>
            </tr>
          </thead>
          <tbody>
            {state.rows.map((r) => (
              <tr key={`${r.tunnelId}/${r.model}`}>
                <td>{r.tunnelName || r.tunnelId || '–'}</td>
                <td>{r.model || '–'}</td>
                <td className="number">{r.requests.toString()}</td>
                <td className="number">{r.promptTokens.toString()}</td>
                <td className="number">{r.completionTokens.toString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

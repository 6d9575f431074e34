import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import type { UsageRow } from '@st/proto/es';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { UsageClient } from './connect-clients';

/** The periods offered, as `stctl usage --since` spells them. */
const PERIODS = [
  { value: 'all', label: 'All time', ms: 0 },
  { value: '24h', label: 'Last 24 hours', ms: 24 * 3600_000 },
  { value: '7d', label: 'Last 7 days', ms: 7 * 24 * 3600_000 },
] as const;
type Period = (typeof PERIODS)[number]['value'];

type UsageState =
  | { kind: 'loading' }
  | { kind: 'loaded'; rows: UsageRow[]; period: Period }
  | { kind: 'unavailable'; message: string }
  | { kind: 'error'; message: string };

/** The signed-in user's token usage, per tunnel and model (UsageService.GetUsage over Connect). */
export function UsageView({ client }: { client: UsageClient }) {
  const [state, setState] = useState<UsageState>({ kind: 'loading' });
  const [period, setPeriod] = useState<Period>('all');
  // Answers can arrive out of order when the period changes quickly: only the latest load may show.
  const latest = useRef(0);
  const load = useCallback(async () => {
    const mine = ++latest.current;
    setState({ kind: 'loading' });
    const ms = PERIODS.find((p) => p.value === period)?.ms ?? 0;
    try {
      const answer = await client.getUsage(ms > 0 ? { since: timestampFromDate(new Date(Date.now() - ms)) } : {});
      if (mine === latest.current) setState({ kind: 'loaded', rows: answer.usage, period });
    } catch (err) {
      if (mine !== latest.current) return;
      const e = ConnectError.from(err);
      // A gateway of an older release has no UsageService: say so rather than fail.
      if (e.code === Code.Unimplemented) {
        setState({ kind: 'unavailable', message: 'Usage is not available on this server: it does not serve UsageService yet.' });
      } else setState({ kind: 'error', message: `cannot read usage: ${e.rawMessage}` });
    }
  }, [client, period]);
  useEffect(() => void load(), [load]);

  return (
    <section className="card usage" aria-labelledby="usage-title" data-state={state.kind} data-period={state.kind === 'loaded' ? state.period : undefined}>
      <div className="usage-head">
        <h2 id="usage-title">Usage</h2>
        <div className="usage-controls">
          <label htmlFor="usage-period">Period</label>
          <select id="usage-period" value={period} onChange={(e) => setPeriod(e.target.value as Period)}>
            {PERIODS.map((p) => (
              <option key={p.value} value={p.value}>
                {p.label}
              </option>
            ))}
          </select>
          <button type="button" onClick={() => void load()} disabled={state.kind === 'loading'}>
            Refresh
          </button>
        </div>
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

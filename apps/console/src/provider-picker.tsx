import type { ProviderItem } from './provider-list';

export interface ProviderPickerProps {
  providers: ProviderItem[];
  synced: boolean;
  provider: ProviderItem | undefined;
  model: string | undefined;
  onProvider(id: string): void;
  onModel(model: string): void;
  /** The live watch is down and being retried. */
  watchError: string | undefined;
}

/** The provider dropdown with live status, health and models, and the model dropdown. */
export function ProviderPicker({ providers, synced, provider, model, onProvider, onModel, watchError }: ProviderPickerProps) {
  return (
    <div className="picker">
      <div className="field">
        <label htmlFor="provider">Provider</label>
        <select id="provider" value={provider?.id ?? ''} onChange={(e) => onProvider(e.target.value)} aria-describedby="provider-details">
          {providers.length === 0 && <option value="">{synced ? 'no providers' : 'loading…'}</option>}
          {providers.map((p) => (
            <option key={p.id} value={p.id}>
              {`${p.name} (${p.status})`}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="model">Model</label>
        <select id="model" value={model ?? ''} onChange={(e) => onModel(e.target.value)} disabled={!provider}>
          {(provider?.models.length ?? 0) === 0 && <option value="">no models</option>}
          {provider?.models.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </div>
      <p id="provider-details" className={`details status-${provider?.status ?? 'none'}`} role="status">
        {provider ? describe(provider) : synced ? 'You have no providers: create a tunnel with --openai (stctl tunnels create).' : 'Loading your providers…'}
        {watchError && <span className="warning"> {watchError}</span>}
      </p>
    </div>
  );
}

function describe(p: ProviderItem): string {
  const health = p.status === 'running' ? (p.healthy ? 'healthy' : 'not healthy: the model server does not answer') : statusHelp(p.status);
  const models = p.models.length === 0 ? 'no models' : `${p.models.length === 1 ? 'model' : 'models'} ${p.models.join(', ')}`;
  return `${p.name}: ${p.status}, ${health} · ${models} · session ${p.sessionName || '–'}`;
}

function statusHelp(status: ProviderItem['status']): string {
  if (status === 'waiting') return 'waiting for its agent to connect';
  if (status === 'stopped') return 'restart the session and its tunnel to use it';
  return 'status unknown';
}

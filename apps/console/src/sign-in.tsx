import { Code, ConnectError } from '@connectrpc/connect';
import { type FormEvent, useState } from 'react';
import { createConsoleClients } from './connect-clients';

export interface SignInProps {
  onSignedIn(apiKey: string): void;
}

/** Asks for an API key and checks it with ListProviders before keeping it. */
export function SignIn({ onSignedIn }: SignInProps) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    // Never a real submission: the key must not end up in a URL (and CSP's form-action forbids it).
    event.preventDefault();
    const apiKey = key.trim();
    if (!apiKey) return setError('enter your Session Tunnels API key (st_key_…)');
    setBusy(true);
    setError(undefined);
    try {
      await createConsoleClients(apiKey).discovery.listProviders({});
      onSignedIn(apiKey);
    } catch (err) {
      const e = ConnectError.from(err);
      setError(e.code === Code.Unauthenticated ? e.rawMessage : `cannot reach the gateway: ${e.rawMessage}`);
      setBusy(false);
    }
  };

  return (
    <form className="card sign-in" onSubmit={submit} noValidate>
      <h2>Sign in</h2>
      <p>Your API key stays in this tab only and is forgotten when you sign out or close it.</p>
      <label htmlFor="api-key">API key</label>
      <input
        id="api-key"
        type="password"
        autoComplete="off"
        spellCheck={false}
        value={key}
        onChange={(e) => setKey(e.target.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? 'sign-in-error' : undefined}
      />
      <button type="submit" disabled={busy}>
        Sign in
      </button>
      {error && (
        <p id="sign-in-error" role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}

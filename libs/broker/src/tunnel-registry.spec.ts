import { describe, expect, it } from 'vitest';
import type { AgentSession } from './agent-session';
import { TunnelRegistry } from './tunnel-registry';

// A gateway routing by presence names the stream it chose (RelayOpen.stream_id): the broker
// honours it while that stream takes exchanges, and otherwise picks as it always did.
function session(connectionId: string, load: number, available = true): AgentSession {
  return { tunnel: { id: 't-1' }, connectionId, load, available } as unknown as AgentSession;
}

describe('TunnelRegistry.pick', () => {
  const registry = new TunnelRegistry();
  registry.add(session('busy', 4));
  registry.add(session('idle', 0));
  registry.add(session('leaving', 0, false));

  it('takes the least-loaded stream that takes exchanges when none is named', () => {
    expect(registry.pick('t-1')?.connectionId).toBe('idle');
  });

  it('takes the named stream even when another is less loaded', () => {
    expect(registry.pick('t-1', 'busy')?.connectionId).toBe('busy');
  });

  it('falls back to its own choice when the named stream is draining or gone', () => {
    expect(registry.pick('t-1', 'leaving')?.connectionId).toBe('idle');
    expect(registry.pick('t-1', 'nope')?.connectionId).toBe('idle');
  });
});

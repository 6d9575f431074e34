// The abuse section's attacks (issue 7), in the order they run. Each takes the targets `t`
// (gateway, ports, the attacker's credentials) and its options, runs for about `durationMs`, and
// resolves to { outcome } in words: what the attacker got back.
import { creditHog } from './credit-hog.mjs';
import { deepJson } from './deep-json.mjs';
import { pingFlood } from './ping-flood.mjs';
import { requestFlood } from './request-flood.mjs';
import { slowHeaders, trickle } from './slow-clients.mjs';

export const ATTACKS = {
  'deep-json-tunnel': { label: 'deep JSON 10 MB (5 M levels) via /t/<id>/v1', run: (t, o) => deepJson(t, { ...o, unified: false }) },
  'deep-json-unified': { label: 'deep JSON 10 MB (5 M levels) via /v1', run: (t, o) => deepJson(t, { ...o, unified: true }) },
  'ping-flood': { label: 'non-reading agent, millions of Pings', run: (t, o) => pingFlood(t, o) },
  'ping-bomb': { label: 'one 16 MB message of 2.7 M Pings', run: (t, o) => pingFlood(t, { ...o, bomb: true }) },
  'credit-hog': { label: 'agent grants itself 4 GiB credit, 20 MB uploads', run: (t, o) => creditHog(t, o) },
  trickle: { label: 'chunked bodies, 1 byte every 10 s', run: (t, o) => trickle(t, o) },
  'slow-headers': { label: '500 slow-header connections', run: (t, o) => slowHeaders(t, o) },
  'request-flood': { label: 'one user flooding requests (c=64)', run: (t, o) => requestFlood(t, o) },
};

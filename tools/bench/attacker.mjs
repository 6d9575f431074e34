#!/usr/bin/env node
// The abuse section's attacker, in a process of its own (forked by lib/abuse.mjs, IPC): building
// a 10 MB body or 2.7 M frames must not slow down the process that measures the victim.
//   → { id, cmd: 'run', attack, targets, options }   ← { id, ok, result: { outcome } }
import { ATTACKS } from './lib/attacks/index.mjs';

process.on('message', async (msg) => {
  if (msg.cmd === 'exit') process.exit(0);
  try {
    const attack = ATTACKS[msg.attack];
    if (!attack) throw new Error(`no attack named ${msg.attack}`);
    const result = await attack.run(msg.targets, msg.options);
    process.send({ id: msg.id, ok: true, result });
  } catch (err) {
    process.send({ id: msg.id, ok: false, error: err?.stack ?? String(err) });
  }
});
process.on('disconnect', () => process.exit(0));

// A non-reading agent that pings: millions of Pings in messages of 20,000 for the whole window
// ("flood"), or one 16 MB message of 2.7 M Pings ("bomb"). The broker answers every Ping with a
// Pong it cannot deliver (issue 7: 3 M pings held 364 MB; the 16 MB message stalled the server 5-6 s).
import { connectRogue, describeStatus, frames, pingMessage } from './rogue-agent.mjs';

export async function pingFlood(t, { durationMs, bomb = false }) {
  const rogue = connectRogue(t.grpcPort, t.attacker.rogueToken, { reading: false });
  try {
    await rogue.write(frames.register());
    await new Promise((r) => setTimeout(r, 200));
    let sent = 0;
    if (bomb) {
      const count = 2_700_000;
      await rogue.write(pingMessage(count));
      sent = count;
      // Keep the stream open for the window: the cost is in the broker, after the write.
      await Promise.race([rogue.ended, new Promise((r) => setTimeout(r, durationMs))]);
    } else {
      const batch = pingMessage(20_000);
      const until = Date.now() + durationMs;
      while (Date.now() < until && !rogue.status) {
        if (!(await rogue.write(batch))) break;
        sent += 20_000;
      }
    }
    await Promise.race([rogue.ended, new Promise((r) => setTimeout(r, 500))]);
    return { outcome: `${(sent / 1e6).toFixed(2)} M pings sent → ${describeStatus(rogue.status)}` };
  } finally {
    rogue.close();
  }
}

// The 10k section: 10,000 concurrent streamed answers over one agent (lib/streams-10k.mjs), then
// 10,000 idle tunnels on one broker and their reconnect storm (lib/idle-tunnels.mjs), each on a
// fresh stack of its own. BENCH_10K_PHASES=streams (or idle) runs only that phase.
import * as streams from '../streams-10k.mjs';
import * as idle from '../idle-tunnels.mjs';

function phases() {
  const raw = (process.env.BENCH_10K_PHASES ?? 'streams,idle').split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = raw.filter((p) => p !== 'streams' && p !== 'idle');
  if (unknown.length > 0) throw new Error(`BENCH_10K_PHASES: unknown phase ${unknown.join(', ')} (use streams, idle or both)`);
  return new Set(raw);
}

export async function run(ctx) {
  const which = phases();
  const out = {};
  if (which.has('streams')) out.streams = await streams.run(ctx);
  if (which.has('streams') && which.has('idle')) await ctx.procs.stopAll(1500);
  if (which.has('idle')) out.idle = await idle.run(ctx);
  return out;
}

export function render(figures) {
  return `${figures.streams ? streams.render(figures.streams) : ''}${figures.idle ? idle.render(figures.idle) : ''}`;
}

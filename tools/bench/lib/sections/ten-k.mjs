// The 10k section: 10,000 concurrent streamed answers over one agent (lib/streams-10k.mjs), then
// 10,000 idle tunnels on one broker and their reconnect storm (lib/idle-tunnels.mjs), each on a
// fresh stack of its own.
import * as streams from '../streams-10k.mjs';
import * as idle from '../idle-tunnels.mjs';

export async function run(ctx) {
  const manyStreams = await streams.run(ctx);
  await ctx.procs.stopAll(1500);
  const idleTunnels = await idle.run(ctx);
  return { streams: manyStreams, idle: idleTunnels };
}

export function render(figures) {
  return `${streams.render(figures.streams)}${idle.render(figures.idle)}`;
}

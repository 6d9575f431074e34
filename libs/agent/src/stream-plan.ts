/**
 * How many distinct brokers the agent aims to hold a stream to: ST_BROKER_CONNECTIONS, but no
 * more than exist. Brokers count themselves in Welcome.live_brokers (0 from an older broker, or
 * nothing heard yet: 1); a list of URLs names that many brokers even when they share no live
 * state and each says 1.
 */
export function streamTarget(options: { connections: number; liveBrokers: number; urlCount: number }): number {
  const known = Math.max(options.liveBrokers || 1, options.urlCount);
  return Math.max(1, Math.min(options.connections, known));
}

/**
 * Which URL the next stream dials: one that no live stream uses yet, else the one fewest use,
 * taking turns from `cursor` among equals, so a list is tried in order and a broker that is down
 * does not keep the others from being tried.
 */
export function pickUrl(urls: readonly string[], inUse: readonly string[], cursor: number): number {
  let best = -1;
  let bestCount = Infinity;
  for (let k = 0; k < urls.length; k++) {
    const i = (cursor + k) % urls.length;
    const count = inUse.filter((u) => u === urls[i]).length;
    if (count < bestCount) {
      best = i;
      bestCount = count;
    }
  }
  return best;
}

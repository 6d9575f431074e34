/** Settings given in one variable as 'K=V K2=V2' (BENCH_PROFILE_SERVER_ENV, PROBE_SERVER_ENV, …), as an env object. */
export function settingsOf(text) {
  return Object.fromEntries((text ?? '').split(/\s+/).filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

#!/usr/bin/env node
// Two profile runs of the bench (BENCH_PROFILE=c64 … node tools/bench/run-bench.mjs, each printing
// "profiles in <dir>"), compared per request: each function's self time in µs per request in the
// first run, in the second, and the difference, largest first. For "what does a setting cost":
//   BENCH_PROFILE=c64 BENCH_PROFILE_SERVER_ENV='ST_USAGE=off' node tools/bench/run-bench.mjs
//   BENCH_PROFILE=c64 BENCH_PROFILE_SERVER_ENV='ST_USAGE=on ST_METRICS_PORT=0' node tools/bench/run-bench.mjs
//   node tools/bench/trace/profile-diff.mjs <dir of the first> <dir of the second> [st-server|st-agent] [phase] [top]
// Only the samples of the phase's window count (windows.json beside the profiles), so start-up
// and shutdown are left out. Per-request figures of two runs share the machine's noise of the
// moment: compare the functions the setting adds, not the totals of unrelated code.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { summarise } from '../lib/cpuprofile.mjs';

const [firstDir, secondDir, proc = 'st-server', phase = 'c64', top = '40'] = process.argv.slice(2);
if (!firstDir || !secondDir) {
  process.stderr.write('usage: profile-diff.mjs <profile dir> <profile dir> [st-server|st-agent] [phase] [top]\n');
  process.exit(2);
}

function perRequest(dir) {
  const windows = JSON.parse(readFileSync(join(dir, 'windows.json'), 'utf8'));
  const w = windows.find((x) => x.phase === phase);
  if (!w) throw new Error(`${dir}: no ${phase} window (phases: ${windows.map((x) => x.phase).join(', ')})`);
  const d = join(dir, proc);
  const file = readdirSync(d).find((f) => f.endsWith('.cpuprofile'));
  const summary = summarise(join(d, file), { fromUs: w.fromUs, toUs: w.toUs });
  const fns = new Map(summary.functions.filter((f) => f.label !== '(idle)').map((f) => [f.label, f.us / w.requests]));
  return { fns, requests: w.requests, busy: [...fns.values()].reduce((a, b) => a + b, 0) };
}

const a = perRequest(firstDir);
const b = perRequest(secondDir);
const rows = [...new Set([...a.fns.keys(), ...b.fns.keys()])].map((label) => {
  const x = a.fns.get(label) ?? 0;
  const y = b.fns.get(label) ?? 0;
  return { label, x, y, d: y - x };
});
const f = (v) => v.toFixed(2).padStart(8);
process.stdout.write(`${proc}, ${phase}: busy µs per request ${a.busy.toFixed(1)} (${a.requests} requests) → ${b.busy.toFixed(1)} (${b.requests}), ${(b.busy - a.busy >= 0 ? '+' : '') + (b.busy - a.busy).toFixed(1)}\n`);
process.stdout.write(`${'diff'.padStart(8)}${'first'.padStart(8)}${'second'.padStart(8)}  function\n`);
for (const r of rows.sort((p, q) => Math.abs(q.d) - Math.abs(p.d)).slice(0, Number(top))) process.stdout.write(`${f(r.d)}${f(r.x)}${f(r.y)}  ${r.label}\n`);

// Self instructions per function of a callgrind profile (c1-cpu-probe.mjs's VG_DUMP=1 files),
// with V8's JIT code named from the perf map Node writes under --perf-basic-prof
// (/tmp/perf-<pid>.map): callgrind sees JIT code only as addresses. Given two profiles (each with
// its request count) it prints what each function costs per request in both and the difference,
// largest first: where an option's added instructions go.
//   node tools/bench/trace/callgrind-names.mjs <profile>[:<requests>] [<other profile>[:<requests>]] [TOP=40]
//   CALLERS=<part of a name>   instead: who calls those functions, calls and inclusive Ir per request
//   CALLEES=<part of a name>   instead: what those functions call
// The perf map is found by the pid in the profile's name (st-server.<pid>.<n>) or PERF_MAP=...;
// for two profiles from different processes PERF_MAP_B names the second's.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** Sorted [start, end, name] ranges of a perf map. */
function perfMap(file) {
  if (!file || !existsSync(file)) return [];
  const ranges = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
    if (!m) continue;
    const start = Number.parseInt(m[1], 16);
    // V8's kinds (JS:*, LazyCompile:*, ~) would split one function in several rows.
    ranges.push([start, start + Number.parseInt(m[2], 16), m[3].replace(/^(JS|LazyCompile|Function|Script):[*~^+-]?/, '').replace(/^[*~]/, '')]);
  }
  return ranges.sort((a, b) => a[0] - b[0]);
}

function nameOf(ranges, address) {
  let lo = 0;
  let hi = ranges.length - 1;
  // The last range starting at or before the address; code moves, so a later entry may shadow it.
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid][0] <= address) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  for (let i = found; i >= 0 && i > found - 64; i--) if (address < ranges[i][1]) return `js ${ranges[i][2].replace(/:\d+:\d+$/, "")}`;
  return 'jit ???';
}

/** Self cost (first event, Ir) per function name, and the calls between them (caller, callee: count, inclusive Ir). */
function selfCosts(file, ranges) {
  const names = new Map();
  const costs = new Map();
  const edges = new Map();
  let current = '';
  let callee = '';
  let calls = 0;
  let skipNext = false;
  const jit = (name) => (/^0x[0-9a-f]+$/.test(name) ? nameOf(ranges, Number.parseInt(name, 16)) : name);
  const named = (spec) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(spec);
    if (!m) return spec;
    if (m[2] !== undefined) names.set(m[1], m[2]);
    return names.get(m[1]) ?? spec;
  };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('fn=')) {
      current = jit(named(line.slice(3)));
      continue;
    }
    if (line.startsWith('cfn=')) {
      callee = jit(named(line.slice(4)));
      continue;
    }
    if (line.startsWith('calls=')) {
      calls = Number(line.slice(6).split(' ')[0]);
      skipNext = true;
      continue;
    }
    const c = line.charCodeAt(0);
    // Cost lines start with a position: a number, +n, -n or *.
    if (!((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42)) continue;
    if (skipNext) {
      skipNext = false;
      const key = `${current}\u0000${callee}`;
      const e = edges.get(key) ?? { calls: 0, ir: 0 };
      e.calls += calls;
      e.ir += Number(line.split(' ')[1] ?? 0);
      edges.set(key, e);
      continue;
    }
    const ir = Number(line.split(' ')[1] ?? 0);
    if (current) costs.set(current, (costs.get(current) ?? 0) + ir);
  }
  return { costs, edges };
}

function load(arg, mapEnv) {
  const [file, n] = arg.split(/:(?=\d+$)/);
  const pid = /\.(\d+)(?:\.\d+)?(?:-\d+)?$/.exec(basename(file))?.[1];
  const ranges = perfMap(mapEnv ?? (pid ? `/tmp/perf-${pid}.map` : undefined));
  return { ...selfCosts(file, ranges), n: Number(n || 1), mapped: ranges.length > 0 };
}

const args = process.argv.slice(2).filter((a) => !/^(TOP|CALLERS|CALLEES)=/.test(a));
const top = Number(process.argv.find((a) => a.startsWith('TOP='))?.slice(4) ?? 40);
const callersOf = process.argv.find((a) => a.startsWith('CALLERS='))?.slice(8);
const calleesOf = process.argv.find((a) => a.startsWith('CALLEES='))?.slice(8);
if (args.length === 0) {
  console.error('usage: callgrind-names.mjs <profile>[:<requests>] [<other profile>[:<requests>]] [TOP=40]');
  process.exit(2);
}
const a = load(args[0], process.env.PERF_MAP);
const b = args[1] ? load(args[1], process.env.PERF_MAP_B ?? process.env.PERF_MAP) : undefined;
if (!a.mapped || (b && !b.mapped)) console.error('note: no perf map found for a profile: its JIT code reads "jit ???" (run with NODE_ARGS=--perf-basic-prof)');
const total = (p) => [...p.costs.values()].reduce((x, y) => x + y, 0);
const per = (p, name) => (p.costs.get(name) ?? 0) / p.n;
const k = (x) => (x / 1000).toFixed(2).padStart(9);
if (callersOf || calleesOf) {
  // Who calls the functions whose name contains the string (or what they call): calls and inclusive Ir per request.
  const rows = new Map();
  for (const [p, col] of [[a, 0], [b, 1]]) {
    if (!p) continue;
    for (const [key, e] of p.edges) {
      const [caller, to] = key.split('\u0000');
      if (callersOf ? !to.includes(callersOf) : !caller.includes(calleesOf)) continue;
      const row = rows.get(key) ?? [caller, to, 0, 0, 0, 0];
      row[2 + col] = e.calls / p.n;
      row[4 + col] = e.ir / p.n;
      rows.set(key, row);
    }
  }
  console.log(`${callersOf ? `callers of *${callersOf}*` : `callees of *${calleesOf}*`}: calls per request (a, b), inclusive k Ir per request (a, b)`);
  for (const [caller, to, ca, cb, ia, ib] of [...rows.values()].sort((x, y) => Math.abs(y[5] - y[4]) - Math.abs(x[5] - x[4]) || y[5] - x[5]).slice(0, top)) {
    console.log(`${ca.toFixed(2).padStart(7)} ${cb.toFixed(2).padStart(7)} ${k(ia)} ${k(ib)}  ${caller} -> ${to}`);
  }
} else if (!b) {
  console.log(`total ${k(total(a) / a.n)} k Ir per request`);
  for (const [name, v] of [...a.costs].sort((x, y) => y[1] - x[1]).slice(0, top)) console.log(`${k(v / a.n)} k  ${name}`);
} else {
  console.log(`total ${k(total(a) / a.n)} k -> ${k(total(b) / b.n)} k Ir per request (${k((total(b) / b.n - total(a) / a.n))} k)`);
  const all = new Set([...a.costs.keys(), ...b.costs.keys()]);
  const rows = [...all].map((name) => [name, per(a, name), per(b, name)]).sort((x, y) => Math.abs(y[2] - y[1]) - Math.abs(x[2] - x[1]));
  console.log('        a         b      b-a  function');
  for (const [name, x, y] of rows.slice(0, top)) console.log(`${k(x)} ${k(y)} ${k(y - x)}  ${name}`);
}

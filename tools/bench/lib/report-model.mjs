// What docs/benchmarks/latest.md shows, computed from what the sections collected
// (`collected.sections[name] = { figures, text }`, or `{ error }` for a section that failed): the
// targets of issue 9 with ✓/✗, the headline figures per column and the chart's input
// (lib/svg-chart.mjs). Sections are read defensively: one that did not run shows "not run", a
// figure that is missing shows "n/a", and nothing here throws on a shape it does not know.
//
// Reading the sections:
//   core  figures.results.{c1,c64,ttft,sse,big}.{direct,tunnel,ssh} (lib/phases.mjs)
//   far   the same shape for the far-away paths, `ssh` and `tunnel` (figures.results.* or figures.*)
//   10k   figures.streams (lib/streams-10k.mjs) and figures.idle (lib/idle-tunnels.mjs)
//   any   figures.targets: [{ name, goal, measured, ok }] (ok true/false/undefined) are listed as
//         given: the way for a section to state its own targets without this file guessing.
import { TARGETS } from './report.mjs';
import { fmt, fmtRatio, ratio } from './stats.mjs';

export const FAR_TARGETS = { bigVsSsh: 0.9, c1AddedVsSshMs: 1 };
export const TEN_K_TARGETS = { streamsVsDirect: 1.1, idleServerMB: 300, reconnectS: 10, restartS: 1 };

/** The columns of the chart and the headline table: section, path in its figures, label. */
export const COLUMNS = [
  { section: 'core', path: 'direct', label: 'direct' },
  { section: 'core', path: 'ssh', label: 'ssh -R' },
  { section: 'core', path: 'tunnel', label: 'tunnel' },
  { section: 'far', path: 'ssh', label: 'ssh -R, far' },
  { section: 'far', path: 'tunnel', label: 'tunnel, far' },
];

const PERCENTILES = [
  { p: 50, key: 'p50', label: 'p50' },
  { p: 90, key: 'p90', label: 'p90' },
  { p: 99, key: 'p99', label: 'p99' },
  { p: 99.9, key: 'p999', label: 'p99.9' },
];

const finite = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The first finite number found at one of the dotted `paths` of `obj`. */
export function num(obj, ...paths) {
  for (const path of paths) {
    let cur = obj;
    for (const k of path.split('.')) cur = cur && typeof cur === 'object' ? cur[k] : undefined;
    if (finite(cur) !== undefined) return cur;
  }
  return undefined;
}

/** Figures of a section that ran and did not fail, else undefined. */
export function figuresOf(collected, name) {
  const s = collected.sections?.[name];
  return s && !s.error && s.figures && typeof s.figures === 'object' ? s.figures : undefined;
}

/** `phase` (c1, c64, ttft, sse, big) of one column, from results.* or the top level. */
export function phaseOf(collected, column, phase) {
  const f = figuresOf(collected, column.section);
  const entry = f?.results?.[phase]?.[column.path] ?? f?.[phase]?.[column.path];
  return entry && typeof entry === 'object' ? entry : undefined;
}

/** Latency at each of PERCENTILES from a phase entry: its `dist` when kept, else its p50/p90/… fields. */
export function percentilesOf(entry) {
  return PERCENTILES.map(({ p, key }) => {
    const d = entry?.dist;
    if (d && Array.isArray(d.p) && Array.isArray(d.ms)) {
      const i = d.p.indexOf(p);
      if (i !== -1 && finite(d.ms[i]) !== undefined) return d.ms[i];
    }
    return finite(entry?.[key]);
  });
}

const mark = (ok) => (ok === undefined ? '?' : ok ? '✓' : '✗');
const signed = (v, digits) => (v === undefined ? 'n/a' : `${v >= 0 ? '+' : ''}${fmt(v, digits)}`);
const MB = 1e6;

/** A row of the targets table; `status` is ✓, ✗, ? (a figure is missing), "not run" or "failed". */
function target(name, goal, measured, ok, why) {
  if (!why) return { name, goal, measured, status: mark(ok) };
  // Why it failed is in the section's own part of the report, once.
  return { name, goal, measured: '', status: why === 'not run' ? 'not run' : 'failed' };
}

function ran(collected, name) {
  const s = collected.sections?.[name];
  if (!s) return 'not run';
  if (s.error) return `failed: ${String(s.error).split('\n')[0]}`;
  return undefined;
}

/** The targets of issue 9, in its order. */
export function targetRows(collected) {
  const rows = [];
  const col = (label) => COLUMNS.find((c) => c.label === label);
  const get = (label, phase, key) => finite(phaseOf(collected, col(label), phase)?.[key]);
  const coreWhy = ran(collected, 'core');
  const farWhy = ran(collected, 'far');
  const tenKWhy = ran(collected, '10k');

  const added = diff(get('tunnel', 'c1', 'p50'), get('direct', 'c1', 'p50'));
  const sshAdded = diff(get('ssh -R', 'c1', 'p50'), get('direct', 'c1', 'p50'));
  rows.push(target('c=1: added p50 of a small chat completion (tunnel − direct)', `≤ ${TARGETS.addedLatencyMs} ms`, `${signed(added, 3)} ms (ssh -R ${signed(sshAdded, 3)} ms)`, added === undefined ? undefined : added <= TARGETS.addedLatencyMs, coreWhy));
  const rps = ratio(get('tunnel', 'c64', 'rps'), get('ssh -R', 'c64', 'rps'));
  rows.push(target('c=64: requests/s, tunnel / ssh -R', `≥ ${TARGETS.rpsVsSsh.toFixed(2)}×`, `${fmtRatio(rps)} (${fmt(get('tunnel', 'c64', 'rps'), 0)} vs ${fmt(get('ssh -R', 'c64', 'rps'), 0)})`, rps === undefined ? undefined : rps >= TARGETS.rpsVsSsh, coreWhy));
  const big = ratio(get('tunnel', 'big', 'mbPerS'), get('direct', 'big', 'mbPerS'));
  rows.push(target('17 MB streamed answer: speed, tunnel / direct', `≥ ${TARGETS.bigVsDirect.toFixed(2)}×`, `${fmtRatio(big)} (${fmt(get('tunnel', 'big', 'mbPerS'), 1)} vs ${fmt(get('direct', 'big', 'mbPerS'), 1)} MB/s)`, big === undefined ? undefined : big >= TARGETS.bigVsDirect, coreWhy));
  const farBig = ratio(get('tunnel, far', 'big', 'mbPerS'), get('ssh -R, far', 'big', 'mbPerS'));
  rows.push(target('far (50 ms round trip): 17 MB speed, tunnel / ssh -R', `≥ ${FAR_TARGETS.bigVsSsh.toFixed(2)}×`, `${fmtRatio(farBig)} (${fmt(get('tunnel, far', 'big', 'mbPerS'), 1)} vs ${fmt(get('ssh -R, far', 'big', 'mbPerS'), 1)} MB/s)`, farBig === undefined ? undefined : farBig >= FAR_TARGETS.bigVsSsh, farWhy));
  const farAdded = diff(get('tunnel, far', 'c1', 'p50'), get('ssh -R, far', 'c1', 'p50'));
  rows.push(target('far: c=1 p50, tunnel − ssh -R', `≤ ${FAR_TARGETS.c1AddedVsSshMs} ms`, `${signed(farAdded, 2)} ms`, farAdded === undefined ? undefined : farAdded <= FAR_TARGETS.c1AddedVsSshMs, farWhy));

  const tk = figuresOf(collected, '10k');
  const st = tk?.streams;
  const streamsRatio = st?.tunnel?.ok === st?.count ? num(st, 'ratio') : undefined;
  const serverMem = num(st, 'memory.server.hwm');
  const agentMem = num(st, 'memory.agent.hwm');
  const mem = serverMem !== undefined || agentMem !== undefined ? `; st-server ${fmtMB(serverMem)}, st-agent ${fmtMB(agentMem)}` : '';
  // ssh -R on the same 10,000 (informative): its time against direct, and the tunnel's against it.
  const sshRatio = st?.ssh?.ok === st?.count ? num(st, 'sshRatio') : undefined;
  const sshText = st?.ssh ? ` (ssh -R ${fmtRatio(sshRatio)}${sshRatio === undefined ? `, ${st.ssh.ok} of ${st.count} whole` : `, tunnel/ssh -R ${fmtRatio(num(st, 'tunnelVsSsh'))}`})` : '';
  rows.push(target('10,000 concurrent streamed answers: time, tunnel / direct', `≤ ${TEN_K_TARGETS.streamsVsDirect.toFixed(2)}×`, `${fmtRatio(streamsRatio)}${sshText}${mem}`, streamsRatio === undefined ? undefined : streamsRatio <= TEN_K_TARGETS.streamsVsDirect, tenKWhy));
  const idle = tk?.idle;
  const idleMem = num(idle, 'loaded.hwm');
  rows.push(target('10,000 idle tunnels: st-server memory', `≤ ${TEN_K_TARGETS.idleServerMB} MB`, fmtMB(idleMem), idleMem === undefined ? undefined : idleMem / MB <= TEN_K_TARGETS.idleServerMB, tenKWhy));
  const reconnectMs = idle?.restart?.serving === idle?.n ? num(idle, 'restart.readyToAllMs') : undefined;
  rows.push(target('10,000 idle tunnels: all serve again after a broker restart', `≤ ${TEN_K_TARGETS.reconnectS} s`, reconnectMs === undefined ? 'n/a' : `${fmt(reconnectMs / 1000, 1)} s`, reconnectMs === undefined ? undefined : reconnectMs <= TEN_K_TARGETS.reconnectS * 1000, tenKWhy));

  const restarts = Array.isArray(idle?.allInOne) ? idle.allInOne.map((r) => r.readyToServeMs).filter((ms) => typeof ms === 'number') : [];
  const slowest = restarts.length > 0 ? Math.max(...restarts) : undefined;
  rows.push(target('all-in-one st-server restart: ready → its tunnel serves (slowest of the runs)', `≤ ${TEN_K_TARGETS.restartS} s`, slowest === undefined ? 'n/a' : `${slowest} ms (${restarts.join(', ')})`, slowest === undefined ? undefined : slowest <= TEN_K_TARGETS.restartS * 1000, tenKWhy));

  // Targets a section states itself (e.g. the all-in-one restart), after the guessed ones.
  for (const [name, s] of Object.entries(collected.sections ?? {})) {
    for (const t of Array.isArray(s?.figures?.targets) ? s.figures.targets : []) {
      rows.push({ name: `${t.name} (${name})`, goal: t.goal ?? '', measured: t.measured ?? 'n/a', status: mark(t.ok) });
    }
  }
  return rows;
}

function diff(a, b) {
  return a === undefined || b === undefined ? undefined : a - b;
}

function fmtMB(bytes) {
  return bytes === undefined ? 'n/a' : `${(bytes / MB).toFixed(0)} MB`;
}

/** Headline figures per column: [label, ...one cell per COLUMNS] rows. */
export function headlineRows(collected) {
  const rows = [
    ['c=1 small chat completion, p50 (ms)', 'c1', 'p50', 3],
    ['c=1 p99 (ms)', 'c1', 'p99', 3],
    ['c=64 requests/s', 'c64', 'rps', 0],
    ['c=64 p99 (ms)', 'c64', 'p99', 2],
    ['time to first token, p50 (ms)', 'ttft', 'p50', 3],
    ['SSE 2,000 tokens: chunks/s', 'sse', 'chunksPerS', 0],
    ['17 MB streamed answer: MB/s', 'big', 'mbPerS', 1],
    ['17 MB streamed answer: ms', 'big', 'ms', 0],
    ['c=64 CPU/request, both processes (µs)', 'c64', 'proxyCpuUsPerReq', 0],
    ['c=64 CPU/request, st-server or sshd (µs)', 'c64', 'serverSideCpuUsPerReq', 0],
    ['c=64 CPU/request, st-agent or ssh (µs)', 'c64', 'agentSideCpuUsPerReq', 0],
  ];
  return rows.map(([label, phase, key, digits]) => [
    label,
    ...COLUMNS.map((c) => {
      const why = ran(collected, c.section);
      if (why) return why === 'not run' ? 'not run' : 'failed';
      // direct has no process in between: nothing to charge.
      if (c.path === 'direct' && key.includes('Cpu')) return '–';
      const v = finite(phaseOf(collected, c, phase)?.[key]);
      return v === undefined ? 'n/a' : fmt(v, digits);
    }),
  ]);
}

/** The chart's input (lib/svg-chart.mjs): latency by percentile and throughput per column. */
export function chartSpec(collected) {
  const latency = (phase) =>
    COLUMNS.map((c) => ({ label: c.label, values: percentilesOf(phaseOf(collected, c, phase)) })).filter((s) => s.values.some((v) => v !== undefined));
  const bars = (phase, key) => COLUMNS.map((c) => ({ label: c.label, values: [finite(phaseOf(collected, c, phase)?.[key])] }));
  const categories = PERCENTILES.map((p) => p.label);
  return {
    title: 'Session Tunnels benchmark: direct, ssh -R and the tunnel, near and far',
    subtitle: `${collected.date ?? ''}, node ${collected.node ?? '?'}, ${collected.cpus ?? '?'} CPUs${collected.quick ? ', QUICK run (too few requests to trust)' : ''}. far: a 50 ms round trip between agent and broker (and on ssh -R's connection). Each column's colour and marker stay the same in every panel.`,
    legend: COLUMNS.map((c) => c.label),
    panels: [
      { kind: 'lines', title: 'Small chat completion, c=1: latency', xLabel: 'percentile', yLabel: 'ms (log scale, lower is better)', categories, series: latency('c1') },
      { kind: 'lines', title: 'Small chat completion, c=64: latency', xLabel: 'percentile', yLabel: 'ms (log scale, lower is better)', categories, series: latency('c64') },
      { kind: 'bars', title: 'Small chat completions, c=64', xLabel: 'requests/s (higher is better)', series: bars('c64', 'rps') },
      { kind: 'bars', title: '17 MB streamed answer', xLabel: 'MB/s, median (higher is better)', series: bars('big', 'mbPerS') },
      { kind: 'lines', title: 'Time to first token (8-token streamed answer)', xLabel: 'percentile', yLabel: 'ms (log scale, lower is better)', categories, series: latency('ttft') },
      { kind: 'bars', title: 'CPU per request at c=64, both processes', xLabel: 'µs (lower is better)', series: bars('c64', 'proxyCpuUsPerReq').filter((s) => s.label !== 'direct') },
    ],
  };
}

/** Why a column of a section that ran has no figures (core's `sshWhy`, e.g. BENCH_NO_SSH=1). */
export function columnNotes(collected) {
  const notes = [];
  for (const section of ['core', 'far']) {
    const why = figuresOf(collected, section)?.sshWhy;
    if (typeof why === 'string' && why) notes.push(`${section === 'far' ? 'ssh -R, far' : 'ssh -R'}: n/a: ${why}`);
  }
  return notes;
}

/** "not run", "failed: …" or undefined (it ran) for each section name. */
export function sectionStatus(collected, name) {
  return ran(collected, name);
}

// docs/benchmarks/latest.md and latest.svg: what the last full `npm run bench` measured, for people
// who would rather look than read logs. Each section hands over its figures and its rendered text
// (`collected.sections[name] = { figures, text }`, `{ error }` when it failed); lib/report-model.mjs
// turns the figures into the targets table, the headline table and the chart's input,
// lib/svg-chart.mjs draws the chart.
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { COLUMNS, chartSpec, columnNotes, headlineRows, sectionStatus, targetRows } from './report-model.mjs';
import { renderChart } from './svg-chart.mjs';

const TITLES = {
  core: 'Core: direct, ssh -R and the tunnel on loopback',
  far: 'Far: a 50 ms round trip between agent and broker (and on ssh -R\'s connection)',
  '10k': '10,000 concurrent streams and 10,000 idle tunnels',
  observability: 'Observability: metrics and usage on vs off (issue 10: within 5 %)',
  abuse: 'Abuse: another tenant during each attack',
  cli: 'stctl start-up',
  scale: 'Scale: split brokers, gateways and discovery',
};

const cell = (v) => String(v ?? '').replace(/\|/g, '\\|');
const mdTable = (header, rows) => [`| ${header.map(cell).join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');

/** A section's own text: markdown tables stay markdown, plain-text tables go in a code block. */
function sectionBody(text) {
  const t = String(text ?? '').trim();
  if (!t) return '_(no output)_';
  return /^\|.*\|\s*$/m.test(t) && /^\| *-{3}/m.test(t) ? t.replace(/^#{1,3} /gm, '#### ') : ['```text', t, '```'].join('\n');
}

/** The "Profiles" part: one collapsible block per process and phase (the `profile` section). */
function profilesPart(collected) {
  const s = collected.sections?.profile;
  if (!s) return ['## Profiles', '', 'not run (the `profile` section: `BENCH_SECTIONS=…,profile`)', ''];
  if (s.error) return ['## Profiles', '', `failed: ${String(s.error).split('\n')[0]}`, ''];
  const out = ['## Profiles', '', s.figures?.note ?? 'st-server and st-agent under `node --cpu-prof`, after the measured phases (never during them); self time of the profiled window only.', ''];
  const rows = (s.figures?.summaries ?? []).map((p) => [p.phase, p.process, p.busyMs === undefined ? 'n/a' : p.busyMs.toFixed(0), p.busyUsPerRequest === undefined ? 'n/a' : p.busyUsPerRequest.toFixed(0), p.topPackages ?? '']);
  if (rows.length) out.push(mdTable(['phase', 'process', 'busy ms', 'busy µs per request/answer', 'top packages (share of busy)'], rows), '');
  for (const p of s.figures?.summaries ?? []) out.push(`<details><summary>${p.process}, ${p.phase}</summary>`, '', '```text', String(p.text).trim(), '```', '', '</details>', '');
  if (!s.figures?.summaries?.length) out.push(sectionBody(s.text), '');
  return out;
}

/** The markdown of the report; `svgName` is the chart's file name beside it. */
export function renderLatestMarkdown(collected, { sections, svgName }) {
  const ranAll = !collected.quick && sections.every((s) => collected.sections?.[s]);
  const out = [
    ranAll ? '# Benchmark: the last full run' : `# Benchmark: a partial run (${Object.keys(collected.sections ?? {}).join(', ') || 'no section'})`,
    '',
    `${collected.date}, node ${collected.node}, ${collected.cpus} CPUs${collected.quick ? ', **BENCH_QUICK run: too few requests to trust**' : ''}. Written by \`npm run bench\` (tools/bench/lib/latest-report.mjs); do not edit by hand.`,
    '',
    '## Targets of issue 9',
    '',
    'Ratios measured in this one run (informative: the bench does not fail on them). ✓ met, ✗ missed, ? a figure is missing.',
    '',
    mdTable(['target', 'goal', 'measured', ''], targetRows(collected).map((r) => [r.name, r.goal, r.measured, r.status])),
    '',
    '## Headline figures',
    '',
    'direct: client → mock model server; ssh -R: through OpenSSH\'s reverse forward; tunnel: gateway → broker → gRPC → st-agent; far: the same two with a 50 ms round trip between the session and the control plane.',
    '',
    mdTable(['', ...COLUMNS.map((c) => c.label)], headlineRows(collected)),
    '',
    ...columnNotes(collected).flatMap((n) => [n, '']),
    `![Latency by percentile and throughput per column](${svgName})`,
    '',
  ];
  for (const name of sections) {
    if (name === 'profile') continue;
    out.push(`## ${TITLES[name] ?? name}`, '');
    const why = sectionStatus(collected, name);
    if (why) out.push(why, '');
    else out.push(sectionBody(collected.sections[name].text), '');
  }
  out.push(...profilesPart(collected));
  return out.join('\n');
}

/**
 * Writes docs/benchmarks/latest.md and latest.svg from what the sections collected. A quick run,
 * a profile run or a run of some sections only writes nothing (the file must describe one whole
 * run), unless BENCH_REPORT=file names where to write (the chart goes beside it, `.svg`). Returns
 * the path written, or undefined.
 */
export function writeLatestReport(root, collected, { sections, all = sections }) {
  const full = !collected.quick && all.every((s) => sections.includes(s));
  const target = process.env.BENCH_REPORT || (full ? join(root, 'docs', 'benchmarks', 'latest.md') : undefined);
  if (!target) return undefined;
  const svgPath = join(dirname(target), `${basename(target).replace(/\.md$/, '')}.svg`);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(svgPath, renderChart(chartSpec(collected)));
  writeFileSync(target, renderLatestMarkdown(collected, { sections: all, svgName: basename(svgPath) }));
  return target;
}

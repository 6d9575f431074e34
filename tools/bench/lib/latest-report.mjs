// docs/benchmarks/latest.md: what the last full `npm run bench` measured, for people who would
// rather look than read logs. Each section hands over its figures and its rendered text table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Writes docs/benchmarks/latest.md from what the sections collected. A quick run, a profile run or
 * a run of some sections only writes nothing (the file must describe one whole run), unless
 * BENCH_REPORT=file names where to write. Returns the path written, or undefined.
 */
export function writeLatestReport(root, collected, { sections }) {
  const target = process.env.BENCH_REPORT || (collected.quick || Object.keys(collected.sections).length < sections.length || sections.length < 6 ? undefined : join(root, 'docs', 'benchmarks', 'latest.md'));
  if (!target) return undefined;
  const parts = [`# Benchmark: the last full run`, '', `${collected.date}, node ${collected.node}, ${collected.cpus} CPUs. Produced by \`npm run bench\` (tools/bench); do not edit by hand.`, ''];
  for (const [name, { text }] of Object.entries(collected.sections)) parts.push(`## ${name}`, '', '```text', text.trim(), '```', '');
  mkdirSync(join(target, '..'), { recursive: true });
  writeFileSync(target, parts.join('\n'));
  return target;
}

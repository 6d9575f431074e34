import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the bench, without type declarations
import { renderLatestMarkdown, writeLatestReport } from './latest-report.mjs';
// @ts-expect-error: a plain .mjs module of the bench, without type declarations
import { render as renderStreams } from './streams-10k.mjs';
import { allElements, parseXml } from './xml-tree.js';

const ALL = ['core', 'far', '10k', 'abuse', 'cli', 'scale', 'profile'];

/** A phase entry as lib/phases.mjs returns it, with only the figures the report reads. */
const lat = (p50: number, extra: Record<string, number> = {}) => ({ p50, p90: p50 * 1.5, p99: p50 * 3, p999: p50 * 5, ...extra });

/** What run-bench.mjs collects: a core section that met two targets and missed one, a far section, a failed scale. */
function collected(quick = false) {
  return {
    date: '2026-12-02T00:00:00.000Z',
    node: 'v20.0.0',
    cpus: 2,
    quick,
    sections: {
      core: {
        text: 'CORE-TABLE',
        figures: {
          paths: ['direct', 'tunnel', 'ssh'],
          results: {
            c1: { direct: lat(0.05), tunnel: lat(0.2), ssh: lat(0.24) },
            c64: { direct: lat(3, { rps: 19000 }), tunnel: lat(10, { rps: 6000, proxyCpuUsPerReq: 280 }), ssh: lat(5, { rps: 12000, proxyCpuUsPerReq: 81 }) },
            ttft: { direct: lat(0.1), tunnel: lat(0.6), ssh: lat(0.3) },
            big: { direct: { mbPerS: 33 }, tunnel: { mbPerS: 30 }, ssh: { mbPerS: 30 } },
          },
        },
      },
      far: { text: 'FAR-TABLE', figures: { results: { c1: { ssh: lat(50), tunnel: lat(53) }, big: { ssh: { mbPerS: 20 }, tunnel: { mbPerS: 19 } } } } },
      abuse: { text: '| attack | p50 |\n| --- | --- |\n| none | 3 |', figures: {} },
      scale: { error: 'redis-server not found\n  at ...' },
      profile: { text: 'raw', figures: { summaries: [{ phase: 'c64', process: 'st-server', busyMs: 900, busyUsPerRequest: 150, topPackages: 'undici 25%', text: '== st-server, c64: PROFILE-TEXT' }] } },
    },
  };
}

/** One path's run of the 10k streams phase as lib/streams-10k.mjs measures it. */
const streamsRun = (wallMs: number, cpuMs: Record<string, number>, ok = 10_000) => ({
  ok,
  failures: 10_000 - ok,
  firstError: ok < 10_000 ? 'ECONNRESET (after 900 ms, 0 events in)' : undefined,
  wallMs,
  ttftP50: 60,
  ttftP99: 900,
  durationP50: 2100,
  durationP99: 2900,
  cpuMs,
  foreignCores: 0.1,
  listenDrops: 0,
});

/** The figures of the 10k streams phase: direct 10 s, tunnel 15 s, ssh -R 30 s (or `ssh` as given). */
function streamsFigures(ssh: unknown = streamsRun(30_000, { sshd: 12_000, ssh: 11_000, mock: 6000, load: 6000 })) {
  const direct = streamsRun(10_000, { mock: 6000, load: 6000 });
  const tunnel = streamsRun(15_000, { server: 6000, agent: 6000, mock: 6000, load: 5000 });
  const s = ssh as { wallMs?: number } | undefined;
  return {
    count: 10_000,
    tokens: 40,
    tokenDelayMs: 50,
    paths: s ? ['direct', 'tunnel', 'ssh'] : ['direct', 'tunnel'],
    sshWhy: s ? undefined : 'skipped (BENCH_NO_SSH=1)',
    limits: { mock: 20_000, 'sshd session': 20_000 },
    direct,
    tunnel,
    ...(s ? { ssh: s } : {}),
    memory: { server: { hwm: 300 * 2 ** 20 }, agent: { hwm: 310 * 2 ** 20 }, ...(s ? { sshd: { hwm: 130 * 2 ** 20 }, ssh: { hwm: 115 * 2 ** 20 } } : {}) },
    ratio: 1.5,
    sshRatio: s?.wallMs ? s.wallMs / 10_000 : undefined,
    tunnelVsSsh: s?.wallMs ? 15_000 / s.wallMs : undefined,
  };
}

const rowOf = (md: string, start: string) => md.split('\n').find((l) => l.startsWith(`| ${start}`)) ?? '';

describe('docs/benchmarks/latest.md (latest-report.mjs)', () => {
  const dirs: string[] = [];
  afterEach(() => {
    delete process.env.BENCH_REPORT;
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('has every section: its table when it ran, "not run" or "failed" otherwise, and the profiles at the end', () => {
    const md: string = renderLatestMarkdown(collected(), { sections: ALL, svgName: 'latest.svg' });
    // 10k and cli did not run: not a full run, whatever its sections say.
    expect(md.split('\n')[0]).toBe('# Benchmark: a partial run (core, far, abuse, scale, profile)');
    const headings = md.split('\n').filter((l) => l.startsWith('## '));
    // Targets, headline figures, one per section (the profile section is "Profiles").
    expect(headings).toHaveLength(2 + ALL.length);
    expect(headings.at(-1)).toBe('## Profiles');
    expect(md).toContain('```text\nCORE-TABLE\n```');
    expect(md).toContain('```text\nFAR-TABLE\n```');
    // A section that renders markdown tables stays markdown.
    expect(md).toContain('| none | 3 |');
    expect(md).toMatch(/## 10,000[^\n]*\n\nnot run\n/);
    expect(md).toMatch(/## stctl start-up\n\nnot run\n/);
    expect(md).toMatch(/## Scale[^\n]*\n\nfailed: redis-server not found\n/);
    expect(md).toContain('PROFILE-TEXT');
    expect(rowOf(md, 'c64 | st-server')).toContain('150');
    expect(md).toContain('![Latency by percentile and throughput per column](latest.svg)');
  });

  it('marks each target of issue 9 met, missed or not run from the figures', () => {
    const md: string = renderLatestMarkdown(collected(), { sections: ALL, svgName: 'latest.svg' });
    expect(rowOf(md, 'c=1: added p50')).toMatch(/\+0\.150 ms .*\| ✓ \|$/);
    expect(rowOf(md, 'c=64: requests/s')).toMatch(/0\.50× .*\| ✗ \|$/);
    expect(rowOf(md, '17 MB streamed answer: speed')).toMatch(/0\.91× .*\| ✓ \|$/);
    expect(rowOf(md, 'far (50 ms round trip): 17 MB')).toMatch(/0\.95× .*\| ✓ \|$/);
    expect(rowOf(md, 'far: c=1 p50')).toMatch(/\+3\.00 ms .*\| ✗ \|$/);
    expect(rowOf(md, '10,000 concurrent')).toMatch(/\| not run \|$/);
    // The headline table has a column per path, near and far.
    expect(rowOf(md, 'c=64 requests/s')).toBe('| c=64 requests/s | 19000 | 12000 | 6000 | n/a | n/a |');
  });

  it('reads sections of shapes it does not know without throwing, and lists the targets a section states itself', () => {
    const c = collected();
    const sections: Record<string, unknown> = c.sections;
    // The far figures at the top level, a 10k section with figures of another shape.
    sections.far = { text: 'FAR', figures: { c1: { ssh: lat(50), tunnel: lat(50.5) }, big: { ssh: { mbPerS: 20 }, tunnel: { mbPerS: 10 } } } };
    sections['10k'] = {
      text: '10K',
      figures: { streams: { something: 'else' }, idle: null, targets: [{ name: 'all-in-one restart: serving again', goal: '≤ 1 s', measured: '0.4 s', ok: true }] },
    };
    const md: string = renderLatestMarkdown(c, { sections: ALL, svgName: 'latest.svg' });
    expect(rowOf(md, 'far (50 ms round trip): 17 MB')).toMatch(/0\.50× .*\| ✗ \|$/);
    expect(rowOf(md, 'far: c=1 p50')).toMatch(/\+0\.50 ms .*\| ✓ \|$/);
    expect(rowOf(md, '10,000 concurrent')).toMatch(/\| \? \|$/);
    expect(rowOf(md, '10,000 idle tunnels: st-server memory')).toMatch(/\| \? \|$/);
    expect(rowOf(md, 'all-in-one restart')).toBe('| all-in-one restart: serving again (10k) | ≤ 1 s | 0.4 s | ✓ |');
  });

  it('shows the 10k streams phase with its ssh -R column: the three ratios, the target and the informative line', () => {
    const c = collected();
    const sections: Record<string, unknown> = c.sections;
    const figures = { streams: streamsFigures() };
    sections['10k'] = { text: renderStreams(figures.streams), figures };
    const md: string = renderLatestMarkdown(c, { sections: ALL, svgName: 'latest.svg' });
    expect(rowOf(md, '10,000 concurrent')).toBe('| 10,000 concurrent streamed answers: time, tunnel / direct | ≤ 1.10× | 1.50× (ssh -R 3.00×, tunnel/ssh -R 0.50×); st-server 315 MB, st-agent 325 MB | ✗ |');
    const wall = md.split('\n').find((l) => l.startsWith('wall time until all complete')) ?? '';
    expect(wall.split(/\s{3,}/)).toEqual(['wall time until all complete (s)', '10.00', '15.00', '30.00', '1.50×', '3.00×', '0.50×']);
    expect(md).toMatch(/^ +direct +tunnel +ssh -R +tunnel\/direct +ssh\/direct +tunnel\/ssh$/m);
    expect(md).toMatch(/^CPU relay: .* 6\.0 \/ 6\.0 +12\.0 \/ 11\.0 +both: 0\.52×$/m);
    expect(md).toContain('sshd (incl. session processes) 130.0 MiB, ssh 115.0 MiB');
    expect(md).toContain('target: all complete within 1.1× the direct time: ✗ (1.50×)');
    expect(md).toContain('compared with ssh -R (informative): ssh -R/direct 3.00×, tunnel/ssh -R 0.50×');
  });

  it('says how many answers ssh -R completed when it did not complete them all, and why its column is missing', () => {
    const partial = streamsFigures(streamsRun(30_000, { sshd: 1, ssh: 1 }, 9_000));
    expect(renderStreams(partial)).toContain('(ssh -R completed 9000 of 10000)');
    expect(renderStreams(partial)).toContain('ssh -R: 1000 failed (first: ECONNRESET');
    const c = collected();
    (c.sections as Record<string, unknown>)['10k'] = { text: 'X', figures: { streams: partial } };
    expect(rowOf(renderLatestMarkdown(c, { sections: ALL, svgName: 'latest.svg' }), '10,000 concurrent')).toContain('1.50× (ssh -R n/a, 9000 of 10000 whole)');
    const none: string = renderStreams(streamsFigures(null));
    expect(none).toContain('ssh -R column: n/a: skipped (BENCH_NO_SSH=1)');
    expect(none.split('\n').find((l) => l.startsWith('wall time'))).toMatch(/15\.00 +n\/a +1\.50× +n\/a +n\/a$/);
  });

  it('shows the observability section under its title, with the target it states (issue 10)', () => {
    const c = collected();
    const sections: Record<string, unknown> = c.sections;
    sections.observability = {
      text: 'OBS-TABLE',
      figures: { targets: [{ name: 'metrics and usage on, no exporter: every core figure within 5 % of both off', goal: '11 of 11 within 5 %', measured: '10 of 11', ok: false }] },
    };
    const md: string = renderLatestMarkdown(c, { sections: [...ALL, 'observability'], svgName: 'latest.svg' });
    expect(md).toMatch(/## Observability: metrics and usage on vs off[^\n]*\n\n```text\nOBS-TABLE\n```/);
    expect(rowOf(md, 'metrics and usage on')).toBe('| metrics and usage on, no exporter: every core figure within 5 % of both off (observability) | 11 of 11 within 5 % | 10 of 11 | ✗ |');
  });

  it('writes the chart beside the report: an SVG with a series for each column that has figures', () => {
    const dir = mkdtempSync(join(tmpdir(), 'latest-report-'));
    dirs.push(dir);
    process.env.BENCH_REPORT = join(dir, 'x.md');
    expect(writeLatestReport(dir, collected(true), { sections: ['core'], all: ALL })).toBe(join(dir, 'x.md'));
    expect(readFileSync(join(dir, 'x.md'), 'utf8')).toContain('](x.svg)');
    const svg = parseXml(readFileSync(join(dir, 'x.svg'), 'utf8'));
    const c1 = allElements(svg).filter((e) => e.attrs.class === 'panel')[0];
    const series = allElements(c1).filter((e) => e.attrs.class === 'series').map((e) => e.attrs['data-series']);
    expect(series).toEqual(['direct', 'ssh -R', 'tunnel', 'ssh -R, far', 'tunnel, far']);
  });

  it('writes nothing into docs/ from a quick or partial run unless BENCH_REPORT asks', () => {
    const root = mkdtempSync(join(tmpdir(), 'latest-report-'));
    dirs.push(root);
    expect(writeLatestReport(root, collected(true), { sections: ALL, all: ALL })).toBeUndefined();
    expect(writeLatestReport(root, collected(), { sections: ['core', 'far'], all: ALL })).toBeUndefined();
    expect(existsSync(join(root, 'docs'))).toBe(false);
    expect(writeLatestReport(root, collected(), { sections: ALL, all: ALL })).toBe(join(root, 'docs', 'benchmarks', 'latest.md'));
    expect(existsSync(join(root, 'docs', 'benchmarks', 'latest.svg'))).toBe(true);
  });
});

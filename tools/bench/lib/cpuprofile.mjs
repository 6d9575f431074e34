#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per function and per package,
// and inclusive time of our own functions. Frames of the esbuild bundles (apps/*/dist/main.js, and
// the agent's standalone apps/agent/dist/st-agent.js, which also holds undici and grpc-js) are
// mapped back to libs/*/src/*.ts and node_modules/* through the bundle's source map.
//
// Standalone: node tools/bench/lib/cpuprofile.mjs <file.cpuprofile> [top=25]
import { readFileSync, existsSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { relative, resolve, dirname } from 'node:path';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const maps = new Map();

function sourceMapFor(file) {
  if (!maps.has(file)) {
    let map;
    try {
      if (existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch {
      map = undefined;
    }
    maps.set(file, map);
  }
  return maps.get(file);
}

/** Where a frame comes from: { key, label, pkg, ours }. */
function describe(frame) {
  const name = frame.functionName || '(anonymous)';
  const url = frame.url || '';
  if (!url) {
    if (name.startsWith('(')) return { key: name, label: name, pkg: name, ours: false };
    return { key: `native ${name}`, label: `${name} [native/V8]`, pkg: '(native/V8 builtins)', ours: false };
  }
  if (url.startsWith('node:')) {
    const mod = url.replace(/^node:(internal\/)?/, '').split('/').slice(0, 2).join('/');
    return { key: `${name} ${url}:${frame.lineNumber}`, label: `${name} (${url}:${frame.lineNumber + 1})`, pkg: `node:${mod}`, ours: false };
  }
  let file = url.startsWith('file://') ? fileURLToPath(url) : url;
  let line = frame.lineNumber;
  if (/\/apps\/[^/]+\/dist\/[^/]+\.js$/.test(file)) {
    const map = sourceMapFor(file);
    const entry = map?.findEntry(frame.lineNumber, frame.columnNumber);
    if (entry && entry.originalSource) {
      const src = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : resolve(dirname(file), entry.originalSource);
      file = src;
      line = entry.originalLine;
    }
  }
  const rel = relative(ROOT, file);
  const nm = rel.lastIndexOf('node_modules/');
  let pkg;
  let ours = false;
  if (nm !== -1) {
    const parts = rel.slice(nm + 'node_modules/'.length).split('/');
    pkg = parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  } else if (/^(libs|apps)\/[^/]+\//.test(rel)) {
    pkg = rel.split('/').slice(0, 2).join('/');
    ours = true;
  } else pkg = rel;
  const short = nm !== -1 ? rel.slice(nm + 'node_modules/'.length) : rel;
  return { key: `${name} ${rel}:${line}`, label: `${name} (${short}:${line + 1})`, pkg, ours };
}

/**
 * Parses and aggregates one profile. `window` ({ fromUs, toUs }, CLOCK_MONOTONIC µs as from
 * process.hrtime.bigint() / 1000n, the clock V8 stamps profiles with on Linux) keeps only the
 * samples taken during a phase, leaving out start-up and shutdown.
 */
export function summarise(file, window) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const { samples, timeDeltas } = profile;
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    if (window && (t < window.fromUs || t > window.toUs)) continue;
    // timeDeltas[i] is the gap before sample i; the gap after it is the time it stood for.
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const totalUs = [...self.values()].reduce((a, b) => a + b, 0);

  const info = new Map();
  for (const n of profile.nodes) info.set(n.id, describe(n.callFrame));

  const byFn = new Map();
  const byPkg = new Map();
  for (const [id, us] of self) {
    const d = info.get(id);
    const f = byFn.get(d.key) ?? { label: d.label, pkg: d.pkg, ours: d.ours, us: 0 };
    f.us += us;
    byFn.set(d.key, f);
    byPkg.set(d.pkg, (byPkg.get(d.pkg) ?? 0) + us);
  }

  // Inclusive time of our functions: every sample counts once for each distinct function on its stack.
  const inclusive = new Map();
  const onStack = new Map();
  const root = profile.nodes[0];
  const stack = [[root, 0]];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [node, childIdx] = top;
    const d = info.get(node.id);
    if (childIdx === 0) {
      onStack.set(d.key, (onStack.get(d.key) ?? 0) + 1);
      const us = self.get(node.id) ?? 0;
      if (us > 0) {
        for (const key of onStack.keys()) {
          const e = inclusive.get(key);
          if (e) e.us += us;
          else inclusive.set(key, { us });
        }
      }
    }
    const children = node.children ?? [];
    if (childIdx < children.length) {
      top[1]++;
      stack.push([nodes.get(children[childIdx]), 0]);
    } else {
      stack.pop();
      const c = onStack.get(d.key) - 1;
      if (c === 0) onStack.delete(d.key);
      else onStack.set(d.key, c);
    }
  }
  const fnLabel = new Map();
  for (const n of profile.nodes) {
    const d = info.get(n.id);
    if (!fnLabel.has(d.key)) fnLabel.set(d.key, d);
  }
  const oursInclusive = [...inclusive.entries()]
    .filter(([key]) => fnLabel.get(key)?.ours)
    .map(([key, v]) => ({ label: fnLabel.get(key).label, pkg: fnLabel.get(key).pkg, us: v.us }))
    .sort((a, b) => b.us - a.us);

  return {
    file,
    totalUs,
    functions: [...byFn.values()].sort((a, b) => b.us - a.us),
    packages: [...byPkg.entries()].map(([pkg, us]) => ({ pkg, us })).sort((a, b) => b.us - a.us),
    oursInclusive,
  };
}

const pct = (us, total) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
const ms = (us) => `${(us / 1000).toFixed(0).padStart(6)} ms`;

/** Text report of one summary. */
export function report(summary, { title = summary.file, top = 25, requests } = {}) {
  const { totalUs } = summary;
  const busyUs = totalUs - (summary.packages.find((p) => p.pkg === '(idle)')?.us ?? 0);
  const out = [];
  const per = requests ? `, ${(busyUs / requests).toFixed(0)} µs busy per request/answer` : '';
  out.push(`== ${title}: ${(totalUs / 1000).toFixed(0)} ms sampled, ${(busyUs / 1000).toFixed(0)} ms busy (${pct(busyUs, totalUs).trim()})${per}`);
  out.push('  self time by package (share of busy time):');
  for (const p of summary.packages.filter((p) => p.pkg !== '(idle)').slice(0, 14)) out.push(`    ${pct(p.us, busyUs)} ${ms(p.us)}  ${p.pkg}`);
  out.push(`  top ${top} functions by self time (share of busy time):`);
  for (const f of summary.functions.filter((f) => f.label !== '(idle)').slice(0, top)) {
    out.push(`    ${pct(f.us, busyUs)} ${ms(f.us)}  ${f.ours ? '* ' : '  '}${f.label}`);
  }
  const oursSelf = summary.functions.filter((f) => f.ours);
  out.push(`  our code (libs/*, apps/*), self time: ${pct(oursSelf.reduce((a, f) => a + f.us, 0), busyUs).trim()} of busy; top by self:`);
  for (const f of oursSelf.slice(0, 10)) out.push(`    ${pct(f.us, busyUs)} ${ms(f.us)}  ${f.label}`);
  out.push('  our functions by inclusive time (self + callees; nested entries overlap):');
  for (const f of summary.oursInclusive.slice(0, 15)) out.push(`    ${pct(f.us, busyUs)} ${ms(f.us)}  ${f.label}`);
  return out.join('\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node tools/bench/lib/cpuprofile.mjs <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  process.stdout.write(`${report(summarise(file), { top: Number(top) || 25 })}\n`);
}

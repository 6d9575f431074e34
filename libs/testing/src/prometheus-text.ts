/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: every line must be
 * a `# HELP`, a `# TYPE`, a sample or blank, every sample must belong to a family whose TYPE came
 * first, a family's samples must be together, histogram lines must be well formed. Anything else
 * throws with the line number, so a scrape that Prometheus would reject fails the test.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, … for a histogram). */
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string | undefined;
  type: MetricType;
  samples: Sample[];
}

export class PrometheusText {
  constructor(readonly families: Map<string, MetricFamily>) {}

  family(name: string): MetricFamily | undefined {
    return this.families.get(name);
  }

  /**
   * The sum of the samples named `name` whose labels include `labels` (0 when none match):
   * `value('st_gateway_requests_total', { kind: 'chat' })` adds up every code.
   */
  value(name: string, labels: Record<string, string> = {}): number {
    let sum = 0;
    for (const s of this.samples(name)) {
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
    return sum;
  }

  /** Every sample named `name` (a histogram's `_bucket`, `_sum`, `_count` included by their own names). */
  samples(name: string): Sample[] {
    const out: Sample[] = [];
    for (const f of this.families.values()) for (const s of f.samples) if (s.name === name) out.push(s);
    return out;
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set<MetricType>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): PrometheusText {
  const families = new Map<string, MetricFamily>();
  const finished = new Set<string>();
  let current: MetricFamily | undefined;
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  lines.forEach((line, index) => {
    const where = `line ${index + 1} (${JSON.stringify(line.slice(0, 120))})`;
    const fail = (why: string): never => {
      throw new Error(`${where}: ${why}`);
    };
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // other comments are allowed
      const [, keyword, name, rest = ''] = m;
      if (!NAME.test(name)) fail(`bad metric name ${name}`);
      let family = families.get(name);
      if (family && finished.has(name)) fail(`metric ${name} appears twice, apart`);
      if (!family) {
        family = { name, help: undefined, type: 'untyped', samples: [] };
        families.set(name, family);
      }
      if (current && current !== family) finished.add(current.name);
      current = family;
      if (keyword === 'HELP') {
        if (family.help !== undefined) fail(`second HELP for ${name}`);
        checkEscapes(rest, false, fail);
        family.help = rest;
      } else {
        if (family.samples.length > 0) fail(`TYPE of ${name} after its samples`);
        if (!TYPES.has(rest as MetricType)) fail(`unknown type ${rest}`);
        family.type = rest as MetricType;
      }
      return;
    }
    const sample = parseSample(line, fail);
    const family = familyOf(sample.name, families, current);
    if (!family) fail(`sample ${sample.name} has no TYPE line before it (or is apart from its family)`);
    if (family !== current) fail(`sample ${sample.name} is apart from its family ${family!.name}`);
    checkSampleOfType(family!, sample, fail);
    family!.samples.push(sample);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return new PrometheusText(families);
}

/** The family a sample belongs to: its own name, or a histogram's/summary's with a suffix. */
function familyOf(name: string, families: Map<string, MetricFamily>, current: MetricFamily | undefined): MetricFamily | undefined {
  if (families.has(name)) return families.get(name);
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f && (f.type === 'histogram' || f.type === 'summary')) return f;
  }
  return current && current.name === name ? current : undefined;
}

function checkSampleOfType(family: MetricFamily, sample: Sample, fail: (why: string) => never): void {
  if (family.type === 'histogram') {
    if (sample.name === family.name) fail(`histogram ${family.name} has a sample without _bucket/_sum/_count`);
    if (sample.name.endsWith('_bucket') && sample.labels.le === undefined) fail('a _bucket sample without le');
  }
  if (family.type === 'counter' && sample.value < 0) fail('a negative counter');
}

function checkHistogram(f: MetricFamily): void {
  // Per label set (le aside): buckets ascending and cumulative, ending in +Inf equal to _count.
  const groups = new Map<string, { buckets: [number, number][]; count?: number }>();
  const keyOf = (labels: Record<string, string>) =>
    JSON.stringify(Object.entries(labels).filter(([k]) => k !== 'le').sort(([a], [b]) => a.localeCompare(b)));
  for (const s of f.samples) {
    const key = keyOf(s.labels);
    const g = groups.get(key) ?? { buckets: [] };
    groups.set(key, g);
    if (s.name.endsWith('_bucket')) g.buckets.push([parseValue(s.labels.le), s.value]);
    else if (s.name.endsWith('_count')) g.count = s.value;
  }
  for (const [key, g] of groups) {
    const where = `histogram ${f.name} ${key}`;
    if (g.buckets.length === 0 || g.buckets[g.buckets.length - 1][0] !== Infinity) throw new Error(`${where}: no +Inf bucket last`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i][0] > g.buckets[i - 1][0])) throw new Error(`${where}: buckets not ascending`);
      if (g.buckets[i][1] < g.buckets[i - 1][1]) throw new Error(`${where}: buckets not cumulative`);
    }
    if (g.count !== g.buckets[g.buckets.length - 1][1]) throw new Error(`${where}: _count ${g.count} differs from the +Inf bucket`);
  }
}

function parseSample(line: string, fail: (why: string) => never): Sample {
  const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
  if (!nameMatch) fail('not a sample line');
  const name = nameMatch![0];
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (!ln) fail(`bad label name at column ${i + 1}`);
      const labelName = ln![0];
      if (!LABEL_NAME.test(labelName) || labelName.startsWith('__')) fail(`reserved or bad label name ${labelName}`);
      i += labelName.length;
      if (line[i] !== '=' || line[i + 1] !== '"') fail(`expected ="…" after label ${labelName}`);
      i += 2;
      let value = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) fail(`unterminated value of label ${labelName}`);
        if (c === '"') break;
        if (c === '\\') {
          const next = line[i + 1];
          if (next === 'n') value += '\n';
          else if (next === '\\' || next === '"') value += next;
          else fail(`bad escape \\${next} in label ${labelName}`);
          i += 2;
          continue;
        }
        value += c;
        i++;
      }
      i++;
      if (labelName in labels) fail(`label ${labelName} twice`);
      labels[labelName] = value;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') fail(`expected , or } after label ${labelName}`);
    }
    i++;
  }
  if (line[i] !== ' ') fail('expected a space before the value');
  const rest = line.slice(i + 1).split(' ');
  if (rest.length > 2 || rest[0] === '') fail('expected a value and at most a timestamp');
  const value = parseValue(rest[0]);
  if (Number.isNaN(value) && rest[0].toLowerCase() !== 'nan') fail(`bad value ${rest[0]}`);
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1])) fail(`bad timestamp ${rest[1]}`);
  return { name, labels, value };
}

/**
 * A sample value as Prometheus reads it (Go's strconv.ParseFloat): NaN and Inf in any case, which
 * matters because prom-client writes NaN as `Nan`.
 */
function parseValue(text: string): number {
  const word = text.toLowerCase();
  if (word === '+inf' || word === 'inf' || word === '+infinity' || word === 'infinity') return Infinity;
  if (word === '-inf' || word === '-infinity') return -Infinity;
  if (word === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return NaN;
  return Number(text);
}

function checkEscapes(text: string, quotes: boolean, fail: (why: string) => never): void {
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') continue;
    const next = text[i + 1];
    if (next !== 'n' && next !== '\\' && !(quotes && next === '"')) fail(`bad escape \\${next ?? ''} in HELP`);
    i++;
  }
}

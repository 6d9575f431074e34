import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the bench, without type declarations
import { renderChart } from './svg-chart.mjs';
import { allElements, parseXml, textOf, type XmlElement } from './xml-tree.js';

type Values = (number | undefined)[];
const lines = (title: string, series: { label: string; values: Values }[]) => ({
  kind: 'lines',
  title,
  xLabel: 'percentile',
  yLabel: 'ms (log scale)',
  categories: ['p50', 'p90', 'p99', 'p99.9'],
  series,
});
const bars = (title: string, series: { label: string; values: Values }[]) => ({ kind: 'bars', title, xLabel: 'requests/s', series });

const byClass = (root: XmlElement, cls: string) => allElements(root).filter((e) => e.attrs.class === cls);
const seriesIn = (panel: XmlElement) => byClass(panel, 'series').map((g) => g.attrs['data-series']);
/** The colour a series is drawn in: its line's stroke or its bar's fill. */
const colourOf = (g: XmlElement) => {
  const drawn = allElements(g).find((e) => e.name === 'path' || e.name === 'rect');
  return drawn?.attrs.stroke ?? drawn?.attrs.fill;
};

describe('the benchmark chart (svg-chart.mjs)', () => {
  const spec = {
    title: 'Bench & co <loopback>',
    subtitle: 'one run',
    legend: ['direct', 'ssh -R', 'tunnel'],
    panels: [
      lines('c=1 latency', [
        { label: 'direct', values: [0.05, 0.07, 0.1, 0.2] },
        { label: 'tunnel', values: [0.3, 0.5, 1.2, 4] },
      ]),
      bars('c=64 requests/s', [
        { label: 'direct', values: [19034] },
        { label: 'ssh -R', values: [12345] },
        { label: 'tunnel', values: [undefined] },
      ]),
    ],
  };

  it('is a well-formed SVG document with one panel per input panel and one group per series', () => {
    const root = parseXml(renderChart(spec));
    expect(root.name).toBe('svg');
    expect(root.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    expect(root.attrs.viewBox).toMatch(/^0 0 \d+ \d+$/);
    const panels = byClass(root, 'panel');
    expect(panels.map((p) => p.attrs['data-kind'])).toEqual(['lines', 'bars']);
    expect(seriesIn(panels[0])).toEqual(['direct', 'tunnel']);
    expect(seriesIn(panels[1])).toEqual(['direct', 'ssh -R', 'tunnel']);
    // A line per series with a marker per value.
    const tunnelLine = byClass(panels[0], 'series')[1];
    expect(allElements(tunnelLine).filter((e) => e.name === 'path' && e.attrs.fill === 'none')).toHaveLength(1);
    expect(allElements(tunnelLine).filter((e) => e.name === 'title').map(textOf)).toEqual(['tunnel, p50: 0.3', 'tunnel, p90: 0.5', 'tunnel, p99: 1.2', 'tunnel, p99.9: 4']);
  });

  it('labels the chart, the axes and the legend, escaping what it prints', () => {
    const root = parseXml(renderChart(spec));
    const texts = allElements(root)
      .filter((e) => e.name === 'text' || e.name === 'title')
      .map(textOf);
    expect(texts).toContain('Bench & co <loopback>');
    for (const label of ['c=1 latency', 'c=64 requests/s', 'percentile', 'ms (log scale)', 'requests/s', 'p50', 'p99.9']) expect(texts).toContain(label);
    expect(byClass(root, 'legend-item').map((e) => e.attrs['data-series'])).toEqual(['direct', 'ssh -R', 'tunnel']);
    // Bars carry their value; a column without one says so instead of drawing nothing.
    const barPanel = byClass(root, 'panel')[1];
    expect(allElements(barPanel).map(textOf)).toEqual(expect.arrayContaining(['19,034', '12,345', 'not run']));
  });

  it('keeps each column in its legend colour in every panel, even where another column is missing', () => {
    const root = parseXml(renderChart(spec));
    const [linePanel, barPanel] = byClass(root, 'panel');
    const colour = (panel: XmlElement, label: string) => colourOf(byClass(panel, 'series').find((g) => g.attrs['data-series'] === label)!);
    expect(colour(linePanel, 'tunnel')).toBeDefined();
    // In the line panel "tunnel" is the second series drawn, in the legend the third: the legend decides.
    expect(colour(linePanel, 'tunnel')).not.toBe(colour(barPanel, 'ssh -R'));
    expect(colour(linePanel, 'direct')).toBe(colour(barPanel, 'direct'));
    const legendColours = byClass(root, 'legend-item').map((e) => allElements(e).find((x) => x.name === 'line')!.attrs.stroke);
    expect(new Set(legendColours).size).toBe(3);
    expect(legendColours[2]).toBe(colour(linePanel, 'tunnel'));
  });

  it('breaks a line where a value is missing and says "not run" for a panel without any', () => {
    const root = parseXml(
      renderChart({
        title: 't',
        panels: [lines('gappy', [{ label: 'far', values: [50, undefined, 70, 90] }]), lines('empty', [{ label: 'far', values: [undefined, undefined, undefined, undefined] }])],
      }),
    );
    const [gappy, empty] = byClass(root, 'panel');
    const d = allElements(gappy).find((e) => e.name === 'path' && e.attrs.fill === 'none')!.attrs.d;
    expect(d.match(/M/g)).toHaveLength(2);
    expect(allElements(empty).map(textOf)).toContain('not run');
  });

  it('puts a log axis under latencies that span decades, with ticks from below the least to above the most', () => {
    const root = parseXml(renderChart({ title: 't', panels: [lines('wide', [{ label: 'x', values: [0.05, 1, 30, 900] }])] }));
    const ticks = allElements(byClass(root, 'panel')[0])
      .filter((e) => e.name === 'text' && e.attrs['text-anchor'] === 'end')
      .map((e) => Number(textOf(e)));
    expect(Math.min(...ticks)).toBeLessThanOrEqual(0.05);
    expect(Math.max(...ticks)).toBeGreaterThanOrEqual(900);
    expect(ticks).toEqual(expect.arrayContaining([0.1, 1, 10, 100]));
  });
});

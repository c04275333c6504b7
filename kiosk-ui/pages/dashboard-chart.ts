/// <reference lib="dom" />
/**
 * The dashboard's chart of ratings over time: inline SVG bars stacked by level, from
 * `GET /api/stats?by=hour` (keys `YYYY-MM-DDTHH:00` in China time). One bar per hour for a
 * single day, per day for a longer range. Each level has its own pattern as well as its own
 * colour (colour is never the only cue), a legend in words, and a tooltip per segment.
 */
import { t } from './i18n.js';
import { cstDay, h, levelWord } from './staff-common.js';

import type { StatRow } from '../../protocol/index.js';

const SVG = 'http://www.w3.org/2000/svg';
const LEVELS = [5, 4, 3, 2, 1] as const; // stacked bottom (非常满意) to top (非常不满意)
/** Fill colour, and the white overlay drawn on it in an 8x8 tile. */
const LOOK: Record<(typeof LEVELS)[number], { fill: string; overlay: string }> = {
  5: { fill: '#1b5e20', overlay: '' },
  4: { fill: '#2e7d32', overlay: 'M0,8 L8,0 M-2,2 L2,-2 M6,10 L10,6' },
  3: { fill: '#616161', overlay: 'M3,3 h2 v2 h-2 Z' },
  2: { fill: '#c43e00', overlay: 'M0,2 H8 M0,6 H8' },
  1: { fill: '#8e0000', overlay: 'M0,0 L8,8 M8,0 L0,8' },
};

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (SVGElement | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child);
  return el;
}

function pattern(id: string, level: (typeof LEVELS)[number]): SVGPatternElement {
  const look = LOOK[level];
  const tile = svg('pattern', { id, width: 8, height: 8, patternUnits: 'userSpaceOnUse' }, svg('rect', { width: 8, height: 8, fill: look.fill }));
  if (look.overlay) tile.append(svg('path', { d: look.overlay, stroke: '#ffffff', 'stroke-width': 1.6, fill: level === 3 ? '#ffffff' : 'none' }));
  return tile;
}

interface Bucket {
  label: string;
  title: string;
  counts: Record<(typeof LEVELS)[number], number>;
}

function buckets(rows: StatRow[], fromMs: number, toMs: number): { hourly: boolean; list: Bucket[] } {
  const hourly = toMs - fromMs <= 86_400_000;
  const byKey = new Map<string, Bucket>();
  const keys: string[] = [];
  const add = (key: string, label: string, title: string) => {
    keys.push(key);
    byKey.set(key, { label, title, counts: { 5: 0, 4: 0, 3: 0, 2: 0, 1: 0 } });
  };
  if (hourly) {
    const day = cstDay(fromMs);
    const hours = rows.flatMap((r) => (r.key?.startsWith(day) ? [Number(r.key.slice(11, 13))] : []));
    const first = Math.min(8, ...hours);
    const last = Math.max(17, ...hours);
    for (let hour = first; hour <= last; hour++) {
      const hh = String(hour).padStart(2, '0');
      add(`${day}T${hh}`, hh, `${day} ${hh}:00–${hh}:59`);
    }
  } else {
    for (let ms = fromMs; ms < toMs; ms += 86_400_000) {
      const day = cstDay(ms);
      add(day, day.slice(5), day);
    }
  }
  for (const row of rows) {
    const bucket = row.key ? byKey.get(hourly ? row.key.slice(0, 13) : row.key.slice(0, 10)) : undefined;
    if (!bucket) continue;
    for (const level of LEVELS) bucket.counts[level] += row.levels[String(level) as '1'];
  }
  return { hourly, list: keys.map((k) => byKey.get(k)!) };
}

/** A "nice" top of the axis: 1, 2 or 5 times a power of ten, at least `max`. */
function niceMax(max: number): number {
  if (max <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(max));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= max / 4)!;
  return Math.ceil(max / step) * step;
}

/** Draws the chart into `container` and the legend into `legend` (both replaced). */
export function renderChart(container: HTMLElement, legend: HTMLElement, caption: HTMLElement, rows: StatRow[], fromMs: number, toMs: number): void {
  const { hourly, list } = buckets(rows, fromMs, toMs);
  caption.textContent = t(hourly ? 'dashChartHourly' : 'dashChartDaily');
  const totals = list.map((b) => LEVELS.reduce((n, l) => n + b.counts[l], 0));
  const top = niceMax(Math.max(0, ...totals));
  const barW = hourly ? 34 : 44;
  const pitch = hourly ? 48 : 64;
  const left = 64;
  const plotTop = 36;
  const plotH = 240;
  const width = left + list.length * pitch + 16;
  const height = plotTop + plotH + 44;
  const scale = (n: number) => (n / top) * plotH;
  const chart = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': t('dashChartLabel', { n: totals.reduce((a, b) => a + b, 0) }), class: 'chart-svg' });
  chart.append(svg('defs', {}, ...LEVELS.map((l) => pattern(`chart-l${l}`, l))));
  for (let i = 0; i <= 4; i++) {
    const value = (top / 4) * i;
    const y = plotTop + plotH - scale(value);
    chart.append(svg('line', { x1: left - 6, x2: width - 8, y1: y, y2: y, stroke: i === 0 ? '#333333' : '#d0d0d0', 'stroke-width': 1 }));
    chart.append(svg('text', { x: left - 10, y: y + 6, 'text-anchor': 'end', class: 'chart-text' }, String(Math.round(value))));
  }
  list.forEach((bucket, i) => {
    const x = left + i * pitch + (pitch - barW) / 2;
    let y = plotTop + plotH;
    const group = svg('g', {});
    for (const level of LEVELS) {
      const n = bucket.counts[level];
      if (n === 0) continue;
      const hgt = scale(n);
      y -= hgt;
      group.append(svg('rect', { x, y, width: barW, height: hgt, fill: `url(#chart-l${level})`, stroke: '#ffffff', 'stroke-width': 1 }, svg('title', {}, `${bucket.title} ${levelWord(level)}: ${n}`)));
    }
    if (totals[i]) group.append(svg('text', { x: x + barW / 2, y: y - 8, 'text-anchor': 'middle', class: 'chart-text chart-total' }, String(totals[i])));
    group.append(svg('text', { x: x + barW / 2, y: plotTop + plotH + 28, 'text-anchor': 'middle', class: 'chart-text' }, bucket.label));
    chart.append(group);
  });
  container.replaceChildren(chart);
  legend.replaceChildren(
    ...LEVELS.map((level) => {
      const swatch = svg('svg', { width: 32, height: 24, 'aria-hidden': 'true' }, svg('defs', {}, pattern(`legend-l${level}`, level)), svg('rect', { width: 32, height: 24, fill: `url(#legend-l${level})`, stroke: '#333333' }));
      return h('li', {}, swatch, h('span', { text: levelWord(level) }));
    }),
  );
}

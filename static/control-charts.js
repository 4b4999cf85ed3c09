// Small inline SVG charts for the Activity view, drawn from the series of GET /admin/activity: calls per bucket
// as bars with the errors stacked on top in red, and latency per bucket as p50 and p99 lines. No library. Each
// chart is an <svg role="img"> whose <title> says what it shows in words; every bar and point has its own
// <title>, which browsers show on hover. The SVG scales with its box, so it fits any screen width.

import { append } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';
const WIDTH = 240;
const HEIGHT = 60;
const PAD = 3;

let charts = 0;

/** Create an SVG element: attributes are set as attributes, children are nodes or text. */
function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(NS, tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  return append(node, ...children);
}

/** A chart frame: the <svg> with its accessible title and a baseline. */
function frame(label, kind, ...children) {
  charts += 1;
  const id = `chart-${charts}`;
  return svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': id, class: `chart ${kind}` },
    svg('title', { id }, label),
    svg('line', { x1: 0, x2: WIDTH, y1: HEIGHT - 0.5, y2: HEIGHT - 0.5, class: 'baseline' }),
    ...children);
}

/** A duration in milliseconds, as a person reads it. */
export function formatMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(ms >= 1 ? 1 : 2)} ms`;
}

/** `n word`, with an `s` unless n is 1. */
export function count(n, word) {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The clock time a bucket starts at (`from` is the window's start, RFC 3339). */
function bucketTime(from, bucketSecs, index) {
  const start = new Date(Date.parse(from) + index * bucketSecs * 1000);
  return start.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/**
 * Calls per bucket: `series` is `{calls: [...], errors: [...]}`, `from`/`bucketSecs` place the buckets in time,
 * `label` is the chart's title.
 */
export function callsChart({ label, series, from, bucketSecs }) {
  const n = series.calls.length;
  const peak = Math.max(1, ...series.calls);
  const slot = WIDTH / n;
  const scale = (HEIGHT - PAD) / peak;
  const bars = series.calls.map((calls, i) => {
    if (calls === 0) return null;
    const errors = series.errors[i];
    const x = i * slot + slot * 0.1;
    const width = Math.max(slot * 0.8, 0.8);
    const okHeight = (calls - errors) * scale;
    const errorHeight = errors * scale;
    return svg('g', {},
      svg('title', {}, `${bucketTime(from, bucketSecs, i)}: ${count(calls, 'call')}, ${count(errors, 'error')}`),
      okHeight > 0 ? svg('rect', { x, width, y: HEIGHT - okHeight, height: okHeight, class: 'ok' }) : null,
      errorHeight > 0 ? svg('rect', { x, width, y: HEIGHT - okHeight - errorHeight, height: errorHeight, class: 'err' }) : null);
  });
  return frame(label, 'calls-chart', bars);
}

/** The runs of consecutive buckets that have a value, as polyline point lists. */
function runs(values, x, y) {
  const lines = [];
  let current = [];
  values.forEach((value, i) => {
    if (value === null) {
      if (current.length) lines.push(current);
      current = [];
    } else {
      current.push(`${x(i).toFixed(2)},${y(value).toFixed(2)}`);
    }
  });
  if (current.length) lines.push(current);
  return lines.filter((line) => line.length > 1).map((line) => line.join(' '));
}

/** Latency per bucket: `series` is `{p50_ms: [...], p99_ms: [...]}` (null where a bucket had no call). */
export function latencyChart({ label, series, from, bucketSecs }) {
  const n = series.p99_ms.length;
  const peak = Math.max(Number.EPSILON, ...series.p99_ms.filter((v) => v !== null));
  const slot = WIDTH / n;
  const x = (i) => i * slot + slot / 2;
  const y = (ms) => HEIGHT - PAD - (ms / peak) * (HEIGHT - 2 * PAD);
  const lines = ['p50', 'p99'].flatMap((p) =>
    runs(series[`${p}_ms`], x, y).map((points) => svg('polyline', { points, class: p })));
  const points = series.p99_ms.map((p99, i) => {
    if (p99 === null) return null;
    const p50 = series.p50_ms[i];
    return svg('g', {},
      svg('title', {}, `${bucketTime(from, bucketSecs, i)}: p50 ${formatMs(p50)}, p99 ${formatMs(p99)}`),
      svg('circle', { cx: x(i), cy: y(p99), r: 1.8, class: 'p99' }),
      svg('circle', { cx: x(i), cy: y(p50), r: 1.8, class: 'p50' }));
  });
  return frame(label, 'latency-chart', lines, points);
}

// The Activity view: per-tool small charts over the last hour from `GET /admin/activity` (calls and errors per
// minute, p50/p99 latency) and the recent calls from `GET /admin/audit`, filtered by tool, key and outcome.
// Both need the admin scope: a key without it gets a message saying so, and a button to use another key.

import { api, forgetKey } from './api.js';
import { el, replaceChildren } from './dom.js';
import { callsChart, count, formatMs, latencyChart } from './control-charts.js';

const $ = (id) => document.getElementById(id);

/** Recent calls shown at most. */
const CALLS_SHOWN = 50;

function percent(rate) {
  if (rate === null || rate === undefined) return '—';
  const value = rate * 100;
  return `${value === 0 || value >= 10 ? Math.round(value) : value.toFixed(1)}%`;
}

function windowText(secs) {
  return secs === 3600 ? 'the last hour' : `the last ${Math.round(secs / 60)} minutes`;
}

/** One line of numbers: calls, errors, p50, p99. */
function numbers(summary) {
  return `${count(summary.calls, 'call')} · ${count(summary.errors, 'error')} (${percent(summary.error_rate)}) · `
    + `p50 ${formatMs(summary.p50_ms)} · p99 ${formatMs(summary.p99_ms)}`;
}

function axis(activity) {
  return el('div', { className: 'axis muted', 'aria-hidden': 'true' },
    el('span', {}, `${Math.round(activity.window_secs / 60)} min ago`), el('span', {}, 'now'));
}

function toolCard(activity, { tool, ...summary }) {
  const place = { from: activity.from, bucketSecs: activity.bucket_secs, series: summary.series };
  const span = windowText(activity.window_secs);
  return el('article', { className: 'panel tool-chart', 'data-tool': tool },
    el('h3', {}, tool),
    el('p', { className: 'muted chart-numbers' }, numbers(summary)),
    el('figure', {},
      el('figcaption', {}, 'Calls per minute', el('span', { className: 'legend err' }, 'errors'),
        el('span', { className: 'peak' }, `peak ${Math.max(...summary.series.calls)}`)),
      callsChart({ ...place, label: `${tool}: ${count(summary.calls, 'call')} in ${span}, ${count(summary.errors, 'error')} (${percent(summary.error_rate)})` }),
      axis(activity)),
    el('figure', {},
      el('figcaption', {}, 'Latency', el('span', { className: 'legend p50' }, 'p50'), el('span', { className: 'legend p99' }, 'p99'),
        el('span', { className: 'peak' }, `peak ${formatMs(Math.max(...summary.series.p99_ms.filter((v) => v !== null)))}`)),
      latencyChart({ ...place, label: `${tool} latency in ${span}: p50 ${formatMs(summary.p50_ms)}, p99 ${formatMs(summary.p99_ms)}` }),
      axis(activity)));
}

function renderCharts(activity) {
  const notes = [];
  if (activity.truncated) notes.push(`Only the newest ${activity.rows} calls were read (from ${new Date(activity.covered_from).toLocaleTimeString()}).`);
  if (activity.tools_omitted) notes.push(`${count(activity.tools_omitted, 'quieter tool')} not shown.`);
  $('activity-summary').textContent = [`All tools, ${windowText(activity.window_secs)}: ${numbers(activity.totals)}.`, ...notes].join(' ');
  replaceChildren($('activity-charts'), activity.tools.length
    ? activity.tools.map((tool) => toolCard(activity, tool))
    : el('p', { className: 'muted' }, `No calls in ${windowText(activity.window_secs)}.`));
}

/** Keep a select's options to `values` (plus its current choice), after its first "all" option. */
function setOptions(select, values, allLabel) {
  const chosen = select.value;
  const all = [...new Set([...values, ...(chosen ? [chosen] : [])])];
  replaceChildren(select, el('option', { value: '' }, allLabel), all.map((v) => el('option', { value: v }, v)));
  select.value = chosen;
}

function renderFilters(activity) {
  setOptions($('filter-tool'), activity.tools.map((t) => t.tool).sort(), 'All tools');
  const outcomes = Object.keys(activity.totals.outcomes).filter((o) => o !== 'ok').sort();
  setOptions($('filter-outcome'), ['ok', ...outcomes], 'All outcomes');
}

function callsPath() {
  const query = new URLSearchParams({ limit: String(CALLS_SHOWN) });
  for (const [name, id] of [['tool', 'filter-tool'], ['key', 'filter-key'], ['outcome', 'filter-outcome']]) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  return `/admin/audit?${query}`;
}

function cell(label, ...content) {
  return el('td', { 'data-label': label }, ...content);
}

function renderCalls(entries) {
  const rows = entries.map((entry) => el('tr', { 'data-outcome': entry.outcome },
    cell('Time', el('time', { dateTime: entry.time, title: entry.time }, new Date(entry.time).toLocaleTimeString())),
    cell('Tool', entry.tool),
    cell('Key', entry.key_id),
    cell('Outcome', el('span', { className: `badge ${entry.outcome === 'ok' ? 'set' : 'error-badge'}` }, entry.outcome)),
    cell('Duration', formatMs(entry.duration_ms)),
    cell('Request id', el('code', {}, entry.request_id))));
  replaceChildren($('calls-rows'), rows);
  $('calls-status').textContent = entries.length
    ? `${count(entries.length, 'call')}, newest first${entries.length === CALLS_SHOWN ? ` (the latest ${CALLS_SHOWN})` : ''}.`
    : 'No calls match these filters.';
}

function showDenied(denied) {
  $('activity-denied').hidden = !denied;
  $('activity-content').hidden = denied;
}

function showError(error) {
  $('activity-status').textContent = error.describe ? error.describe() : String(error);
  $('activity-status').className = 'error';
}

/**
 * Each load of the calls takes a new number; an answer that arrives after a later load began is dropped, so a
 * quick change of filters never ends showing the rows of an earlier choice.
 */
let callsLoad = 0;

/** Show the view: load the charts and the calls afresh. */
export async function showActivity() {
  const load = ++callsLoad;
  $('activity-status').textContent = 'Loading activity…';
  $('activity-status').className = 'muted';
  try {
    const [{ data: activity }, { data: calls }] = await Promise.all([api('/admin/activity'), api(callsPath())]);
    showDenied(false);
    renderCharts(activity);
    renderFilters(activity);
    if (load === callsLoad) renderCalls(calls.entries);
    $('activity-status').textContent = `Updated at ${new Date().toLocaleTimeString()}.`;
  } catch (error) {
    if (error.status === 403) {
      showDenied(true);
      $('activity-status').textContent = '';
    } else {
      showError(error);
    }
  }
}

/** Load the calls only, after a filter changed. */
async function refreshCalls() {
  const load = ++callsLoad;
  try {
    const { data } = await api(callsPath());
    if (load !== callsLoad) return;
    renderCalls(data.entries);
  } catch (error) {
    if (load !== callsLoad) return;
    if (error.status === 403) showDenied(true);
    else showError(error);
  }
}

/** Wire the view's controls (once). */
export function initActivity() {
  $('activity-refresh').addEventListener('click', showActivity);
  for (const id of ['filter-tool', 'filter-key', 'filter-outcome']) $(id).addEventListener('change', refreshCalls);
  // Enter in the key field already fired `change`.
  $('calls-filters').addEventListener('submit', (event) => event.preventDefault());
  $('activity-other-key').addEventListener('click', () => {
    forgetKey();
    showActivity();
  });
}

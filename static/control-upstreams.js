// The Upstreams view: the federated MCP servers from `GET /admin/upstreams` (scope admin), each with its
// transport, address, state (and error), era, served tools and problems, and every HELD tool change as a diff of
// the pinned and the offered definition, with Approve per tool and Approve all
// (`POST /admin/upstreams/{name}/approve`).

import { api, forgetKey } from './api.js';
import { el, replaceChildren } from './dom.js';
import { count } from './control-charts.js';

const $ = (id) => document.getElementById(id);

/** After an approval the gateway lists the upstream's tools again: the view looks this often, this many times. */
const SETTLE_MS = 250;
const SETTLE_TRIES = 20;

const STATE_BADGES = { ready: 'set', connecting: 'unset', failed: 'error-badge' };

/** A value as one line: strings as they are, anything else as compact JSON. */
function text(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/**
 * One change per key whose value differs between two objects: `{what, before, after}` (undefined when absent),
 * `what` being the key after `label` when there is one.
 */
function keyChanges(label, before, after) {
  const keys = [...new Set([...Object.keys(before || {}), ...Object.keys(after || {})])].sort();
  return keys.filter((key) => !same(before?.[key], after?.[key]))
    .map((key) => ({ what: label ? `${label} ${key}` : key, before: before?.[key], after: after?.[key] }));
}

/** A schema's changes: its properties one by one, its required list, and any other keyword. */
function schemaChanges(label, before, after) {
  const { properties: oldProperties, required: oldRequired, ...oldRest } = before || {};
  const { properties: newProperties, required: newRequired, ...newRest } = after || {};
  return [
    ...keyChanges(`${label} property`, oldProperties, newProperties),
    ...(same(oldRequired || [], newRequired || []) ? [] : [{ what: `${label} required`, before: oldRequired, after: newRequired }]),
    ...keyChanges(label, oldRest, newRest),
  ];
}

/** What differs between the pinned and the offered definition, field by field. */
function changes(pinned, offered) {
  const { inputSchema: oldInput, outputSchema: oldOutput, annotations: oldAnnotations, ...oldFields } = pinned || {};
  const { inputSchema: newInput, outputSchema: newOutput, annotations: newAnnotations, ...newFields } = offered || {};
  return [
    ...keyChanges('', oldFields, newFields),
    ...schemaChanges('inputSchema', oldInput, newInput),
    ...schemaChanges('outputSchema', oldOutput, newOutput),
    ...keyChanges('annotation', oldAnnotations, newAnnotations),
  ];
}

function changeItem({ what, before, after }) {
  const verb = before === undefined ? 'added' : after === undefined ? 'removed' : 'changed';
  return el('li', { 'data-change': verb },
    el('strong', {}, what), ` ${verb}: `,
    before === undefined ? null : el('del', {}, text(before)),
    before !== undefined && after !== undefined ? ' → ' : null,
    after === undefined ? null : el('ins', {}, text(after)));
}

function heldItem(held, approve) {
  const diff = held.pinned ? changes(held.pinned, held.offered) : [];
  return el('li', { className: 'held', 'data-tool': held.tool },
    el('div', { className: 'held-head' },
      el('strong', {}, held.served_as || held.tool),
      held.served_as && held.served_as !== held.tool ? el('span', { className: 'muted' }, ` (upstream name: ${held.tool})`) : null,
      el('button', { type: 'button', onclick: (event) => approve(event.currentTarget, [held.tool]) }, 'Approve')),
    held.pinned
      ? el('ul', { className: 'changes' }, diff.length ? diff.map(changeItem) : el('li', { className: 'muted' }, 'no visible change'))
      : el('p', { className: 'muted' }, 'No pinned definition: ', el('code', {}, text(held.offered))));
}

function address(upstream) {
  if (upstream.url) return upstream.url;
  return [upstream.command, ...(upstream.args || [])].filter(Boolean).join(' ');
}

function upstreamCard(upstream) {
  const note = el('p', { className: 'muted', role: 'status' });
  const approve = (button, tools) => approveAndRefresh(upstream.name, tools, button, note);
  const held = upstream.held || [];
  const problems = upstream.problems || [];
  return el('article', { className: 'panel upstream', 'data-upstream': upstream.name },
    el('h3', {}, upstream.name, ' ',
      el('span', { className: `badge state ${STATE_BADGES[upstream.state] || ''}` }, upstream.state)),
    upstream.error ? el('p', { className: 'error upstream-error' }, upstream.error) : null,
    el('dl', { className: 'config-table' },
      el('dt', {}, 'Transport'), el('dd', {}, upstream.transport),
      el('dt', {}, upstream.url ? 'URL' : 'Command'), el('dd', {}, el('code', {}, address(upstream))),
      el('dt', {}, 'Era'), el('dd', {}, upstream.era || '—'),
      el('dt', {}, 'Tools served'), el('dd', { className: 'served' }, String(upstream.tools))),
    problems.length ? el('ul', { className: 'problems' }, problems.map((p) => el('li', { className: 'error' }, p))) : null,
    held.length
      ? el('section', { className: 'held-changes' },
        el('div', { className: 'held-head' },
          el('h4', {}, `${count(held.length, 'held change')} (not served until approved)`),
          el('button', { type: 'button', className: 'primary approve-all', onclick: (event) => approve(event.currentTarget) }, 'Approve all')),
        el('ul', { className: 'held-list' }, held.map((h) => heldItem(h, approve))))
      : null,
    note);
}

/** Load the upstreams; resolves to them, or null when the load failed (the status line says why). */
async function load() {
  const status = $('upstreams-status');
  try {
    const { data } = await api('/admin/upstreams');
    const upstreams = data.upstreams || [];
    replaceChildren($('upstreams-list'), upstreams.length
      ? upstreams.map(upstreamCard)
      : el('p', { className: 'muted' }, 'No upstream MCP server is declared (a spec of kind "upstream").'));
    $('upstreams-other-key').hidden = true;
    status.textContent = `${count(upstreams.length, 'upstream')}, updated at ${new Date().toLocaleTimeString()}.`;
    status.className = 'muted';
    return upstreams;
  } catch (error) {
    status.textContent = error.describe ? error.describe() : String(error);
    status.className = 'error';
    $('upstreams-other-key').hidden = error.status !== 403;
    return null;
  }
}

/** Whether upstream `name` still holds any of `tools`. */
function stillHeld(upstreams, name, tools) {
  const upstream = upstreams.find((u) => u.name === name);
  return (upstream?.held || []).some((h) => tools.includes(h.tool));
}

/**
 * Approve `tools` of upstream `name` (all held ones when absent), then show the view again until the gateway
 * serves them (it lists the upstream's tools again after an approval), for a bounded time.
 */
async function approveAndRefresh(name, tools, button, note) {
  button.disabled = true;
  let approved;
  try {
    const { data } = await api(`/admin/upstreams/${encodeURIComponent(name)}/approve`, {
      method: 'POST',
      body: tools ? { tools } : undefined,
    });
    approved = data.approved || [];
  } catch (error) {
    button.disabled = false;
    note.textContent = error.describe ? error.describe() : String(error);
    note.className = 'error';
    return;
  }
  let upstreams = await load();
  for (let i = 0; i < SETTLE_TRIES && upstreams && stillHeld(upstreams, name, approved); i += 1) {
    await new Promise((resolve) => { setTimeout(resolve, SETTLE_MS); });
    upstreams = await load();
  }
  if (!upstreams) return;
  $('upstreams-status').textContent = stillHeld(upstreams, name, approved)
    ? `Approved ${approved.join(', ')} of ${name}; not served yet. Refresh to look again.`
    : `Approved ${approved.join(', ')} of ${name}: served now.`;
}

/** Show the view: load the upstreams afresh. */
export function showUpstreams() {
  $('upstreams-status').textContent = 'Loading upstreams…';
  $('upstreams-status').className = 'muted';
  return load();
}

/** Wire the view's controls (once). */
export function initUpstreams() {
  $('upstreams-refresh').addEventListener('click', showUpstreams);
  $('upstreams-other-key').addEventListener('click', () => {
    forgetKey();
    showUpstreams();
  });
}

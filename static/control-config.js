// The configuration view: `GET /admin/config` (scope admin), secrets shown only as set / unset badges.

import { api } from './api.js';
import { el, replaceChildren } from './dom.js';

function valueNode(value) {
  if (value === 'set' || value === 'unset') return el('span', { className: `badge ${value}` }, value);
  if (value === null || value === undefined) return el('span', { className: 'muted' }, '—');
  if (Array.isArray(value)) {
    if (value.length === 0) return el('span', { className: 'muted' }, 'none');
    if (value.every((v) => typeof v !== 'object' || v === null)) return el('span', {}, value.join(', '));
    return el('ul', { className: 'config-list' }, value.map((item) => el('li', {}, table(item))));
  }
  if (typeof value === 'object') return Object.keys(value).length ? table(value) : el('span', { className: 'muted' }, 'none');
  return el('span', {}, String(value));
}

function table(object) {
  return el('dl', { className: 'config-table' },
    Object.entries(object).map(([key, value]) => [el('dt', {}, key), el('dd', {}, valueNode(value))]));
}

/** Load and render the configuration into `container`; `status` shows progress and errors. */
export async function showConfig(container, status) {
  status.textContent = 'Loading configuration…';
  status.className = 'muted';
  try {
    const { data } = await api('/admin/config');
    replaceChildren(container, Object.entries(data).map(([section, values]) =>
      el('section', { className: 'panel config-section' }, el('h2', {}, section), valueNode(values))));
    status.textContent = 'Secrets are never shown: only whether each is set.';
  } catch (error) {
    status.textContent = error.describe ? error.describe() : String(error);
    status.className = 'error';
  }
}

// The grid of worker cards from `GET /workers`: avatar, name, voice, job and KPIs.

import { el, initials, replaceChildren } from './dom.js';

/** The workers of a `GET /workers` answer (`{workers: [...]}` or a bare list). */
export function workersOf(data) {
  if (Array.isArray(data)) return data;
  return Array.isArray(data?.workers) ? data.workers : [];
}

/** KPIs as [label, value] pairs, from an object or a list of {label|name, value}. */
function kpiPairs(kpis) {
  if (Array.isArray(kpis)) {
    return kpis
      .filter((k) => k && typeof k === 'object')
      .map((k) => [k.label || k.name || k.key || '', k.value ?? '']);
  }
  if (kpis && typeof kpis === 'object') return Object.entries(kpis);
  return [];
}

function display(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** The avatar: the worker's picture when it has one, else its initials. */
export function avatar(worker, className = 'avatar') {
  const box = el('div', { className, 'aria-hidden': 'true' }, initials(worker.name || worker.id));
  if (typeof worker.avatar_url === 'string' && /^(https:|data:image\/|\/)/.test(worker.avatar_url)) {
    const img = el('img', { alt: '', src: worker.avatar_url, loading: 'lazy' });
    img.addEventListener('error', () => img.remove());
    box.append(img);
  }
  return box;
}

function card(worker, onOpen) {
  const job = [worker.job, worker.employeur].filter(Boolean).join(' · ');
  const kpis = kpiPairs(worker.kpis).slice(0, 4);
  const tags = Array.isArray(worker.tags) ? worker.tags.slice(0, 4) : [];
  return el('button', {
    type: 'button', className: 'worker-card', 'data-worker': worker.id,
    'aria-label': `Call ${worker.name || worker.id}`, onclick: () => onOpen(worker),
  },
  el('div', { className: 'worker-head' },
    avatar(worker),
    el('div', { className: 'worker-who' },
      el('strong', { className: 'worker-name' }, worker.name || worker.id),
      job ? el('span', { className: 'muted' }, job) : null,
      el('span', { className: 'badge' }, `voice: ${worker.voice || 'alloy'}`),
      worker.statut ? el('span', { className: 'badge status' }, worker.statut) : null)),
  kpis.length ? el('dl', { className: 'kpis' }, kpis.map(([label, value]) =>
    el('div', { className: 'kpi' }, el('dt', {}, label), el('dd', {}, display(value))))) : null,
  tags.length ? el('p', { className: 'tags' }, tags.map((t) => el('span', { className: 'badge' }, display(t)))) : null);
}

/** Render the cards; clicking one calls `onOpen(worker)`. */
export function renderWorkers(container, workers, onOpen) {
  const sorted = [...workers].sort((a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id)));
  replaceChildren(container, sorted.map((w) => card(w, onOpen)));
}

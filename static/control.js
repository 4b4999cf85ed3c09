// The control panel: the tool catalog (`GET /tools`) with search and category filter, a form per tool from its
// input schema, execution through `POST /execute` with the result and the request id, the activity view
// (`/admin/activity` and `/admin/audit`), the federated upstreams with their held changes (`/admin/upstreams`) and
// the configuration view (`GET /admin/config`).

import { api } from './api.js';
import { el, replaceChildren } from './dom.js';
import { buildForm } from './control-form.js';
import { showConfig } from './control-config.js';
import { initActivity, showActivity } from './control-activity.js';
import { initUpstreams, showUpstreams } from './control-upstreams.js';

const $ = (id) => document.getElementById(id);

let tools = [];
let selected = null;
let form = null;

function matches(tool, text, category) {
  if (category && (tool.category || '') !== category) return false;
  if (!text) return true;
  const haystack = [tool.name, tool.displayName, tool.description, ...(tool.tags || [])].join(' ').toLowerCase();
  return text.toLowerCase().split(/\s+/).every((word) => haystack.includes(word));
}

function renderList() {
  const text = $('search').value.trim();
  const category = $('category').value;
  const shown = tools.filter((t) => matches(t, text, category));
  replaceChildren($('tool-list'), shown.map((tool) => el('li', {},
    el('button', {
      type: 'button', className: `tool-item${selected === tool ? ' selected' : ''}`, 'data-tool': tool.name,
      onclick: () => select(tool),
    },
    el('strong', {}, tool.displayName || tool.name),
    tool.category ? el('span', { className: 'badge' }, tool.category) : null,
    el('span', { className: 'muted tool-summary' }, tool.description || '')))));
  $('catalog-status').textContent = `${shown.length} of ${tools.length} tools`;
}

function select(tool) {
  selected = tool;
  form = buildForm(tool.parameters || {});
  $('tool-name').textContent = tool.displayName && tool.displayName !== tool.name ? `${tool.displayName} (${tool.name})` : tool.name;
  $('tool-description').textContent = tool.description || '';
  replaceChildren($('tool-fields'), form.elements);
  $('form-error').textContent = '';
  $('result').hidden = true;
  $('tool-detail').hidden = false;
  renderList();
  $('tool-detail').scrollIntoView({ block: 'nearest' });
}

function showResult(ok, requestId, value) {
  $('result').hidden = false;
  $('result-status').textContent = ok ? 'ok' : 'error';
  $('result-status').className = `badge ${ok ? 'set' : 'error-badge'}`;
  $('request-id').textContent = requestId || '(none)';
  $('result-json').textContent = JSON.stringify(value, null, 2);
}

async function run(event) {
  event.preventDefault();
  if (!selected || !form) return;
  let params;
  try {
    params = form.read();
  } catch (error) {
    $('form-error').textContent = error.message;
    return;
  }
  $('form-error').textContent = '';
  const button = $('run');
  button.disabled = true;
  button.replaceChildren(el('span', { className: 'spinner' }), ' Running…');
  try {
    const { data, requestId } = await api('/execute', { method: 'POST', body: { tool: selected.name, params } });
    showResult(true, requestId, data.result);
  } catch (error) {
    const body = error.code
      ? { code: error.code, message: error.message, retryable: error.retryable, details: error.details }
      : { message: String(error) };
    showResult(false, error.requestId, body);
  } finally {
    button.disabled = false;
    button.textContent = 'Run';
  }
}

async function loadTools() {
  try {
    const { data } = await api('/tools');
    tools = (data.tools || []).map((t) => t.function || t).sort((a, b) => a.name.localeCompare(b.name));
    const categories = [...new Set(tools.map((t) => t.category).filter(Boolean))].sort();
    replaceChildren($('category'), el('option', { value: '' }, 'All categories'),
      categories.map((c) => el('option', { value: c }, c)));
    renderList();
  } catch (error) {
    $('catalog-status').textContent = error.describe ? error.describe() : String(error);
    $('catalog-status').className = 'error';
  }
}

/** The views by hash, with what showing each loads. */
const VIEWS = {
  tools: () => {},
  activity: showActivity,
  upstreams: showUpstreams,
  config: () => showConfig($('config-sections'), $('config-status')),
};

function route() {
  const hash = window.location.hash.slice(1);
  const shown = Object.hasOwn(VIEWS, hash) ? hash : 'tools';
  for (const view of Object.keys(VIEWS)) {
    $(`${view}-view`).hidden = view !== shown;
    $(`tab-${view}`).toggleAttribute('aria-current', view === shown);
  }
  VIEWS[shown]();
}

$('search').addEventListener('input', renderList);
$('category').addEventListener('change', renderList);
$('tool-form').addEventListener('submit', run);
initActivity();
initUpstreams();
window.addEventListener('hashchange', route);
route();
loadTools();

// The /workers/ui page: the worker grid (refreshed every 30 s) and the call view.

import { api } from './api.js';
import { el, replaceChildren } from './dom.js';
import { avatar, renderWorkers, workersOf } from './workers-grid.js';
import { LatencyGraph } from './workers-graph.js';
import { WorkerCall } from './workers-session.js';

const REFRESH_MS = 30_000;
const $ = (id) => document.getElementById(id);

const graph = new LatencyGraph($('latency-graph'));
let call = null;

function setState(text, isError = false) {
  $('call-state').textContent = text;
  $('call-state').className = isError ? 'error' : 'muted';
}

/** Show a transcript line; assistant deltas of one item grow one line. */
function transcript(role, itemId, text, final) {
  const list = $('transcript');
  const key = `${role}:${itemId || ''}`;
  let line = itemId ? list.querySelector(`li[data-key="${CSS.escape(key)}"]`) : null;
  if (!line) {
    line = el('li', { className: `line ${role}`, 'data-key': key }, el('span', { className: 'who' }, role === 'user' ? 'You' : 'Worker'), el('span', { className: 'text' }));
    list.append(line);
  }
  const body = line.querySelector('.text');
  body.textContent = final ? text : body.textContent + text;
  line.classList.toggle('partial', !final);
  list.scrollTop = list.scrollHeight;
}

const ui = {
  meters: { user: $('vad-user'), ai: $('vad-ai') },
  state: setState,
  transcript,
  latency(ms) {
    graph.add(ms);
    $('latency-last').textContent = `${Math.round(ms)} ms`;
  },
  busy(count, name) {
    $('tool-activity').hidden = count === 0;
    $('tool-label').textContent = `Running ${name || 'a tool'}…`;
  },
  toolResult({ name, ok, summary }) {
    transcript('tool', null, `${name}: ${ok ? summary || 'done' : `failed: ${summary}`}`, true);
  },
  connected() {
    setState('Connected: speak when you are ready.');
    $('mute').disabled = false;
  },
  ended() {
    graph.stop();
    $('call').hidden = true;
    document.body.classList.remove('in-call');
  },
};

async function openCall(worker) {
  if (call) call.hangUp();
  replaceChildren($('call-avatar'), avatar(worker, 'avatar-inner'));
  $('call-name').textContent = worker.name || worker.id;
  replaceChildren($('transcript'));
  $('mute').textContent = 'Mute';
  $('mute').disabled = true;
  $('tool-activity').hidden = true;
  $('latency-last').textContent = '–';
  $('call').hidden = false;
  document.body.classList.add('in-call');
  graph.clear();
  graph.start();
  call = new WorkerCall(worker.id, ui);
  try {
    await call.start();
  } catch (error) {
    call.stop();
    setState(error.describe ? error.describe() : error.message, true);
  }
}

$('mute').addEventListener('click', () => {
  if (!call) return;
  $('mute').textContent = call.toggleMute() ? 'Unmute' : 'Mute';
});
$('hangup').addEventListener('click', () => {
  if (call) call.hangUp();
  else ui.ended();
  call = null;
});

async function refresh() {
  try {
    const { data } = await api('/workers');
    const workers = workersOf(data);
    renderWorkers($('workers'), workers, openCall);
    $('status').textContent = workers.length
      ? `${workers.length} worker${workers.length > 1 ? 's' : ''} · updated ${new Date().toLocaleTimeString()}`
      : 'No workers yet: run `mcp-gateway demo` to create two examples.';
    $('status').className = 'muted';
  } catch (error) {
    $('status').textContent = error.describe ? error.describe() : String(error);
    $('status').className = 'error';
  }
}

refresh();
setInterval(refresh, REFRESH_MS);

// Tool calls the model makes during a call, run by the page through the gateway: arguments arrive in pieces
// (`response.function_call_arguments.delta`, buffered by call_id) and complete with `.done`; each call_id runs
// once (the same call can be announced again), as `POST /workers/{id}/query`; the result goes back as a
// `function_call_output` item, then `response.create` lets the model speak it.

import { api } from './api.js';

const MAX_OUTPUT_CHARS = 12_000;

/** What the model hears back: the spoken summary and the rows, or the error, as compact JSON. */
function outputFor(result) {
  const text = JSON.stringify(result);
  if (text.length <= MAX_OUTPUT_CHARS) return text;
  const { rows, ...rest } = result;
  return JSON.stringify({ ...rest, rows: Array.isArray(rows) ? rows.slice(0, 20) : undefined, note: 'rows shortened' });
}

export class ToolCalls {
  /**
   * `send(event)` writes to the data channel; `onBusy(count, name)` shows the spinner while calls run;
   * `onResult({callId, name, ok, summary})` reports each finished call.
   */
  constructor({ workerId, send, onBusy = () => {}, onResult = () => {} }) {
    this.workerId = workerId;
    this.send = send;
    this.onBusy = onBusy;
    this.onResult = onResult;
    this.buffers = new Map();
    this.started = new Set();
    this.running = 0;
  }

  /** Handle a server event; returns a promise when it started a call, else undefined. */
  handle(event) {
    if (event.type === 'response.function_call_arguments.delta' && event.call_id) {
      this.buffers.set(event.call_id, (this.buffers.get(event.call_id) || '') + (event.delta || ''));
      return undefined;
    }
    if (event.type === 'response.function_call_arguments.done' && event.call_id) {
      const text = typeof event.arguments === 'string' ? event.arguments : this.buffers.get(event.call_id) || '';
      this.buffers.delete(event.call_id);
      return this.run(event.call_id, event.name, text);
    }
    return undefined;
  }

  async run(callId, name, text) {
    if (this.started.has(callId)) return;
    this.started.add(callId);
    this.running += 1;
    this.onBusy(this.running, name);
    let result;
    let ok = false;
    try {
      const args = text.trim() ? JSON.parse(text) : {};
      const { data } = await api(`/workers/${encodeURIComponent(this.workerId)}/query`, { method: 'POST', body: args });
      result = data;
      ok = true;
    } catch (error) {
      const message = error instanceof SyntaxError ? `the arguments are not JSON: ${error.message}` : error.message;
      result = { success: false, error: { code: error.code || 'invalid_arguments', message } };
    } finally {
      this.running -= 1;
      this.onBusy(this.running, name);
    }
    this.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: callId, output: outputFor(result) } });
    this.send({ type: 'response.create' });
    this.onResult({ callId, name, ok, summary: ok ? result.summary : result.error.message });
  }
}

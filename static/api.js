// The gateway's API as the pages call it: same-origin fetches with the same authentication as any client.
// No key when the gateway serves anonymous callers; on a 401 the page asks for an API key, keeps it in
// sessionStorage (gone when the tab closes) and sends it as `Authorization: Bearer`. The pages hold no secret.

import { el } from './dom.js';

const STORAGE_KEY = 'mcp-gateway.api-key';

/** A failed API call, with the gateway's typed error when it sent one. */
export class ApiError extends Error {
  constructor({ status, code, message, retryable, requestId, details }) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryable = Boolean(retryable);
    this.requestId = requestId;
    this.details = details;
  }

  /** One line a person can read: code, message, request id. */
  describe() {
    const id = this.requestId ? ` (request ${this.requestId})` : '';
    return `${this.code}: ${this.message}${id}`;
  }
}

function storedKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

function storeKey(key) {
  try {
    if (key) sessionStorage.setItem(STORAGE_KEY, key);
    else sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Storage can be disabled; the key then lives only for this request.
  }
}

/** Forget the key (the "sign out" of the pages). */
export function forgetKey() {
  storeKey(null);
}

/** The key dialog, built on first use (one per page). */
function keyDialog() {
  const existing = document.getElementById('key-dialog');
  if (existing) return existing;
  const dialog = el('dialog', { id: 'key-dialog', 'aria-labelledby': 'key-title' },
    el('form', {},
      el('h2', { id: 'key-title' }, 'API key'),
      el('p', { className: 'muted', 'data-role': 'reason' }),
      el('label', { htmlFor: 'key-input' }, 'Key'),
      el('input', { id: 'key-input', name: 'key', type: 'password', autocomplete: 'off', required: true }),
      el('p', { className: 'muted' }, 'Kept in this tab only (sessionStorage), sent as ', el('code', {}, 'Authorization: Bearer'), '.'),
      el('div', { className: 'actions' },
        el('button', { type: 'button', 'data-role': 'cancel' }, 'Cancel'),
        el('button', { type: 'submit', className: 'primary' }, 'Use key'))));
  document.body.append(dialog);
  return dialog;
}

/** The question in progress, shared by calls refused at the same time. */
let pendingQuestion = null;

/**
 * Ask for a key in the key dialog; resolves to the key, or null when the person cancels.
 * `reason` tells why (missing or refused). Calls refused together share one question.
 */
function askForKey(reason) {
  if (!pendingQuestion) {
    pendingQuestion = showKeyDialog(reason).finally(() => {
      pendingQuestion = null;
    });
  }
  return pendingQuestion;
}

function showKeyDialog(reason) {
  const dialog = keyDialog();
  const form = dialog.querySelector('form');
  const input = dialog.querySelector('input[name="key"]');
  const note = dialog.querySelector('[data-role="reason"]');
  const cancel = dialog.querySelector('[data-role="cancel"]');
  note.textContent = reason;
  input.value = '';
  return new Promise((resolve) => {
    const finish = (key) => {
      form.removeEventListener('submit', onSubmit);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancel);
      dialog.close();
      resolve(key);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      const key = input.value.trim();
      if (key) finish(key);
    };
    const onCancel = (event) => {
      event.preventDefault();
      finish(null);
    };
    form.addEventListener('submit', onSubmit);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancel);
    dialog.showModal();
    input.focus();
  });
}

async function errorFrom(response) {
  const requestId = response.headers.get('x-request-id');
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: described by the status below.
  }
  const error = body && typeof body.error === 'object' && body.error ? body.error : {};
  return new ApiError({
    status: response.status,
    code: error.code || `http_${response.status}`,
    message: error.message || (body && typeof body.detail === 'string' ? body.detail : response.statusText || 'request failed'),
    retryable: error.retryable,
    requestId: error.request_id || requestId,
    details: error.details,
  });
}

/**
 * Call the gateway. Resolves to `{data, requestId, status}`; rejects with an ApiError.
 * `body` (any JSON value) is sent as JSON.
 */
export async function api(path, { method = 'GET', body } = {}) {
  for (;;) {
    const headers = { accept: 'application/json' };
    const key = storedKey();
    if (key) headers.authorization = `Bearer ${key}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (cause) {
      throw new ApiError({ status: 0, code: 'network_error', message: `the gateway could not be reached (${cause.message})`, retryable: true });
    }
    if (response.status === 401) {
      const error = await errorFrom(response);
      const reason = key ? 'The gateway refused this API key. Enter another one.' : 'This gateway needs an API key.';
      storeKey(null);
      const entered = await askForKey(reason);
      if (!entered) throw error;
      storeKey(entered);
      continue;
    }
    if (!response.ok) throw await errorFrom(response);
    const requestId = response.headers.get('x-request-id');
    const data = response.status === 204 ? null : await response.json();
    return { data, requestId, status: response.status };
  }
}

// One voice call with a worker over WebRTC: the page fetches the worker's Realtime session settings from the
// gateway (with a short-lived client secret; the long-lived key stays on the server), posts its SDP offer to
// the Realtime calls endpoint with that secret, and talks over the `oai-events` data channel: session.update,
// transcripts of both sides, latency per turn, barge-in, and tool calls run through the gateway.

import { api } from './api.js';
import { ToolCalls } from './workers-tools.js';
import { VoiceActivity } from './workers-vad.js';

const DEFAULT_REALTIME_BASE = 'https://api.openai.com';
const FIRST_AUDIO_EVENTS = new Set([
  'output_audio_buffer.started',
  'response.output_audio.delta',
  'response.output_audio_transcript.delta',
]);

/** The ephemeral secret of a realtime config response. */
function clientSecret(config) {
  const secret = config.client_secret;
  if (secret && typeof secret === 'object') return secret.value;
  return typeof secret === 'string' ? secret : null;
}

/** Where the SDP offer goes: the config's `calls_url`, else `{realtime_base_url}/v1/realtime/calls`. */
function callsUrl(config) {
  if (typeof config.calls_url === 'string' && config.calls_url) return config.calls_url;
  const base = (config.realtime_base_url || DEFAULT_REALTIME_BASE).replace(/\/+$/, '');
  return `${base}/v1/realtime/calls`;
}

/** The `session.update` the page sends when the data channel opens (voice, instructions, tools, turns). */
function sessionUpdate(config) {
  const input = {};
  if (config.turn_detection) input.turn_detection = config.turn_detection;
  return {
    type: 'session.update',
    session: {
      type: 'realtime',
      instructions: config.instructions,
      audio: { input, output: { voice: config.voice } },
      tools: Array.isArray(config.tools) ? config.tools : [],
      tool_choice: 'auto',
    },
  };
}

async function providerError(response) {
  let message = response.statusText;
  try {
    const body = await response.json();
    message = body?.error?.message || message;
  } catch {
    // Not JSON.
  }
  return new Error(`the Realtime service answered ${response.status}${message ? `: ${message}` : ''}`);
}

export class WorkerCall {
  /**
   * `ui` receives what happens: state(text, isError), transcript(role, itemId, text, final), latency(ms),
   * busy(count, toolName), toolResult({name, ok, summary}), connected(), ended().
   */
  constructor(workerId, ui) {
    this.workerId = workerId;
    this.ui = ui;
    this.pc = null;
    this.channel = null;
    this.mic = null;
    this.vad = null;
    this.muted = false;
    this.turnEndedAt = null;
    this.responseActive = false;
    this.tools = new ToolCalls({
      workerId,
      send: (event) => this.send(event),
      onBusy: (count, name) => ui.busy(count, name),
      onResult: (result) => ui.toolResult(result),
    });
  }

  async start() {
    this.ui.state('Preparing the session…');
    const { data: config } = await api(`/workers/${encodeURIComponent(this.workerId)}/realtime/config`);
    const secret = clientSecret(config);
    if (!secret) throw new Error('the gateway sent no client secret for this session');
    this.config = config;

    this.ui.state('Asking for the microphone…');
    this.mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    this.vad = new VoiceActivity({ meters: this.ui.meters, onBargeIn: () => this.bargeIn() });
    this.vad.attach('user', this.mic);

    const pc = new RTCPeerConnection();
    this.pc = pc;
    this.audio = new Audio();
    this.audio.autoplay = true;
    pc.ontrack = (event) => {
      const [stream] = event.streams;
      this.audio.srcObject = stream;
      this.vad.attach('ai', stream);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') this.ui.connected();
      if (pc.connectionState === 'failed') this.ui.state('The connection failed.', true);
    };
    for (const track of this.mic.getAudioTracks()) pc.addTrack(track, this.mic);
    this.channel = pc.createDataChannel('oai-events');
    this.channel.addEventListener('open', () => this.send(sessionUpdate(config)));
    this.channel.addEventListener('message', (message) => this.receive(message.data));

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.ui.state('Calling…');
    const response = await fetch(callsUrl(config), {
      method: 'POST',
      body: offer.sdp,
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/sdp' },
      credentials: 'omit',
    });
    if (!response.ok) throw await providerError(response);
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    this.ui.state('Connecting…');
  }

  send(event) {
    if (this.channel && this.channel.readyState === 'open') this.channel.send(JSON.stringify(event));
  }

  receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (FIRST_AUDIO_EVENTS.has(event.type) && this.turnEndedAt !== null) {
      this.ui.latency(performance.now() - this.turnEndedAt);
      this.turnEndedAt = null;
    }
    switch (event.type) {
      case 'input_audio_buffer.speech_stopped':
        this.turnEndedAt = performance.now();
        break;
      case 'conversation.item.input_audio_transcription.completed':
        this.ui.transcript('user', event.item_id, event.transcript || '', true);
        break;
      case 'response.output_audio_transcript.delta':
        this.ui.transcript('assistant', event.item_id, event.delta || '', false);
        break;
      case 'response.output_audio_transcript.done':
        this.ui.transcript('assistant', event.item_id, event.transcript || '', true);
        break;
      case 'response.created':
        this.responseActive = true;
        break;
      case 'response.done':
        this.responseActive = false;
        break;
      case 'error':
        this.ui.state(`Realtime error: ${event.error?.message || 'unknown'}`, true);
        break;
      default:
        this.tools.handle(event);
    }
  }

  /** The caller speaks over the worker: stop the worker's answer so it listens. */
  bargeIn() {
    if (!this.responseActive) return;
    this.send({ type: 'response.cancel' });
    this.send({ type: 'output_audio_buffer.clear' });
    this.responseActive = false;
    this.ui.state('Interrupted: listening…');
  }

  /** Toggle the microphone; returns whether it is now muted. */
  toggleMute() {
    this.muted = !this.muted;
    for (const track of this.mic?.getAudioTracks() || []) track.enabled = !this.muted;
    return this.muted;
  }

  /** Release the microphone, the connection and the audio graph; the call view stays as it is. */
  stop() {
    this.channel?.close();
    this.pc?.close();
    for (const track of this.mic?.getTracks() || []) track.stop();
    if (this.audio) this.audio.srcObject = null;
    this.vad?.close();
    this.channel = null;
    this.pc = null;
    this.mic = null;
    this.vad = null;
  }

  hangUp() {
    this.stop();
    this.ui.ended();
  }
}

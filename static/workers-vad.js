// Voice activity: an AudioContext with one analyser on the caller's microphone and one on the worker's audio,
// sampled every 120 ms (RMS of the time-domain signal). Drives the two meters and detects barge-in: the caller
// speaking while the worker is speaking.

const SAMPLE_MS = 120;
const SPEAKING = 0.04;

function rms(analyser, buffer) {
  analyser.getByteTimeDomainData(buffer);
  let sum = 0;
  for (const byte of buffer) {
    const centered = (byte - 128) / 128;
    sum += centered * centered;
  }
  return Math.sqrt(sum / buffer.length);
}

export class VoiceActivity {
  /**
   * `meters`: {user, ai} elements whose width shows the level; `onBargeIn()` is called once each time the
   * caller starts speaking over the worker.
   */
  constructor({ meters, onBargeIn }) {
    this.meters = meters;
    this.onBargeIn = onBargeIn;
    this.context = new AudioContext();
    this.analysers = {};
    this.timer = null;
    this.interrupting = false;
  }

  /** Listen to `stream` as `who` ('user' or 'ai'). The stream is analysed, not played. */
  attach(who, stream) {
    const analyser = this.context.createAnalyser();
    analyser.fftSize = 512;
    this.context.createMediaStreamSource(stream).connect(analyser);
    this.analysers[who] = { analyser, buffer: new Uint8Array(analyser.fftSize) };
    if (this.context.state === 'suspended') this.context.resume();
    if (!this.timer) this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  sample() {
    const level = {};
    for (const who of ['user', 'ai']) {
      const entry = this.analysers[who];
      level[who] = entry ? rms(entry.analyser, entry.buffer) : 0;
      const meter = this.meters[who];
      if (meter) meter.style.width = `${Math.min(100, Math.round(level[who] * 400))}%`;
    }
    const bargeIn = level.user > SPEAKING && level.ai > SPEAKING;
    if (bargeIn && !this.interrupting) this.onBargeIn();
    this.interrupting = bargeIn;
  }

  close() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const meter of Object.values(this.meters)) if (meter) meter.style.width = '0%';
    this.context.close().catch(() => {});
  }
}

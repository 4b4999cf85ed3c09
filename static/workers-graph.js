// The latency graph: one point per turn (ms from the end of the caller's speech to the worker's first audio),
// drawn on a canvas over a sliding 60-second window with axes, grid and labels.

const WINDOW_MS = 60_000;

export class LatencyGraph {
  constructor(canvas) {
    this.canvas = canvas;
    this.points = [];
    this.timer = null;
  }

  /** Record one turn's latency, measured at `at` (performance.now()). */
  add(ms, at = performance.now()) {
    this.points.push({ at, ms });
    this.draw();
  }

  /** Redraw every second so old points slide out of the window. */
  start() {
    this.stop();
    this.timer = setInterval(() => this.draw(), 1000);
    this.draw();
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  clear() {
    this.points = [];
    this.draw();
  }

  draw() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, canvas.clientWidth);
    const height = Math.max(1, canvas.clientHeight);
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const now = performance.now();
    this.points = this.points.filter((p) => now - p.at <= WINDOW_MS);
    const left = 40;
    const bottom = height - 18;
    const top = 8;
    const right = width - 8;
    const max = Math.max(1000, ...this.points.map((p) => p.ms)) * 1.1;
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillStyle = '#5b6478';
    ctx.strokeStyle = '#d9deea';
    ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i += 1) {
      const y = bottom - ((bottom - top) * i) / 4;
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(right, y);
      ctx.stroke();
      ctx.fillText(`${Math.round((max * i) / 4)}`, 2, y + 4);
    }
    for (const seconds of [60, 45, 30, 15, 0]) {
      const x = right - ((right - left) * seconds * 1000) / WINDOW_MS;
      ctx.fillText(seconds === 0 ? 'now' : `-${seconds}s`, Math.min(x - 8, right - 22), height - 4);
    }
    if (this.points.length === 0) return;
    const xOf = (p) => right - ((right - left) * (now - p.at)) / WINDOW_MS;
    const yOf = (p) => bottom - ((bottom - top) * p.ms) / max;
    ctx.strokeStyle = '#2563eb';
    ctx.lineWidth = 2;
    ctx.beginPath();
    this.points.forEach((p, i) => (i === 0 ? ctx.moveTo(xOf(p), yOf(p)) : ctx.lineTo(xOf(p), yOf(p))));
    ctx.stroke();
    ctx.fillStyle = '#2563eb';
    for (const p of this.points) {
      ctx.beginPath();
      ctx.arc(xOf(p), yOf(p), 3, 0, Math.PI * 2);
      ctx.fill();
    }
  }
}

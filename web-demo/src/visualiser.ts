/**
 * Bars for the agent's voice, drawn from an AnalyserNode. The element also carries the current level
 * (`data-level`, RMS 0..1) and the loudest level since the source was attached (`data-peak`), so the
 * state is visible to assistive tooling and to tests without reading pixels.
 */
export class Visualiser {
  #canvas: HTMLCanvasElement;
  #analyser: AnalyserNode | null = null;
  #input: AudioNode | null = null;
  #frame = 0;
  #peak = 0;
  #lastLevelWrite = 0;
  #bins: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #wave: Float32Array<ArrayBuffer> = new Float32Array(0);

  constructor(canvas: HTMLCanvasElement) {
    this.#canvas = canvas;
    this.#reset();
  }

  /** Taps `source` (a node of `context`, or a MediaStream such as a remote audio track's). */
  attach(context: AudioContext, source: AudioNode | MediaStream): void {
    this.detach();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    analyser.smoothingTimeConstant = 0.6;
    const input = source instanceof MediaStream ? context.createMediaStreamSource(source) : source;
    input.connect(analyser);
    this.#analyser = analyser;
    this.#input = input;
    this.#bins = new Uint8Array(analyser.frequencyBinCount);
    this.#wave = new Float32Array(analyser.fftSize);
    this.#frame = requestAnimationFrame(this.#draw);
  }

  detach(): void {
    cancelAnimationFrame(this.#frame);
    if (this.#input && this.#analyser) {
      try {
        this.#input.disconnect(this.#analyser);
      } catch {}
    }
    this.#analyser = null;
    this.#input = null;
    this.#reset();
  }

  #reset(): void {
    this.#peak = 0;
    this.#canvas.dataset.level = '0';
    this.#canvas.dataset.peak = '0';
    const ctx = this.#canvas.getContext('2d');
    ctx?.clearRect(0, 0, this.#canvas.width, this.#canvas.height);
  }

  #draw = (now: number): void => {
    const analyser = this.#analyser;
    if (!analyser) return;
    this.#frame = requestAnimationFrame(this.#draw);
    analyser.getFloatTimeDomainData(this.#wave);
    let sum = 0;
    for (const v of this.#wave) sum += v * v;
    const level = Math.sqrt(sum / this.#wave.length);
    if (level > this.#peak) {
      this.#peak = level;
      this.#canvas.dataset.peak = level.toFixed(4);
    }
    if (now - this.#lastLevelWrite > 100) {
      this.#lastLevelWrite = now;
      this.#canvas.dataset.level = level.toFixed(4);
    }
    analyser.getByteFrequencyData(this.#bins);
    const ctx = this.#canvas.getContext('2d');
    if (!ctx) return;
    const { width, height } = this.#canvas;
    ctx.clearRect(0, 0, width, height);
    const bars = 24;
    // Speech lives in the lower third of the spectrum; spread those bins over the bars.
    const usable = Math.floor(this.#bins.length / 3);
    const per = Math.max(1, Math.floor(usable / bars));
    const barWidth = width / bars;
    ctx.fillStyle = getComputedStyle(this.#canvas).color || '#4af';
    for (let b = 0; b < bars; b++) {
      let v = 0;
      for (let i = 0; i < per; i++) v = Math.max(v, this.#bins[b * per + i] ?? 0);
      const h = Math.max(2, (v / 255) * height);
      ctx.fillRect(b * barWidth + 1, (height - h) / 2, barWidth - 2, h);
    }
  };
}

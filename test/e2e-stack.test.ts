/**
 * End to end, the way `npm start` runs the product: LiveKit dev server, Gemini emulator, token server,
 * the agent worker as a child process (automatic dispatch), and the web demo — driven by Debian's
 * headless Chromium with a recorded voice as the fake microphone. The page joins, the agent answers
 * audibly (energy measured in the page with Web Audio), both sides are transcribed, the agent switches
 * the page's light through the client RPC tool, a screen share reaches the model as video frames, a
 * push-to-talk room (set by room metadata) hears the page only while its button is held, and
 * direct mode completes a turn. Screenshots of the main
 * states go to test/artifacts/.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RoomServiceClient } from 'livekit-server-sdk';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeminiEmulator, start as startGemini } from '../emulators/gemini-live/index.ts';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { startTokenServer, type TokenServer } from '../token-server/index.ts';
import { startWebDemo, type WebDemo } from '../web-demo/serve.ts';
import { joinCall, launchChromium, openPage, screenshot, writeSpeechWav } from './fixtures/web/browser.ts';
import { freePort } from './livekit-control-helpers.ts';

/** Generous wait for any one condition: the machine may be shared and heavily loaded. */
const WAIT = 90_000;

const ROOT = join(import.meta.dirname, '..');
const HEARD = 'please turn the light on';
const ANSWER = 'The light is on now.';

let dir: string;
let lk: LiveKitDevServer;
let gemini: GeminiEmulator;
let tokens: TokenServer;
let web: WebDemo;
let browser: Browser;
let worker: ChildProcess | undefined;
let workerLog = '';
const pages: { close(): Promise<void> }[] = [];

async function startWorker(): Promise<void> {
  const proc = spawn(process.execPath, [join(ROOT, 'agent', 'main.ts'), 'start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      LIVEKIT_URL: lk.url,
      LIVEKIT_API_KEY: lk.apiKey,
      LIVEKIT_API_SECRET: lk.apiSecret,
      GEMINI_API_KEY: 'local-emulator-key',
      GOOGLE_GEMINI_BASE_URL: gemini.url,
      AGENT_HTTP_PORT: String(await freePort()),
      AGENT_METRICS_PORT: '0',
      AGENT_IDLE_PROCESSES: '1',
      // The machine is shared with other suites: report load from sessions only.
      AGENT_LOAD_CPU: 'false',
      // The model sees the room's camera/screen (off by default in the product).
      AGENT_VIDEO: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker = proc;
  proc.stdout!.on('data', (d) => {
    workerLog += String(d);
  });
  proc.stderr!.on('data', (d) => {
    workerLog += String(d);
  });
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (workerLog.includes('registered worker')) return resolve();
      if (proc.exitCode !== null) return reject(new Error(`agent worker exited:\n${workerLog}`));
      setTimeout(check, 100);
    };
    check();
  });
}

async function stopWorker(): Promise<void> {
  const proc = worker;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'e2e-stack-'));
  // Long pauses between utterances: on a loaded machine the model's answer (after the tool round trip)
  // must not be cut short by the next utterance of the looping recording (barge-in).
  const wav = writeSpeechWav(join(dir, 'speech.wav'), { gap: 9 });
  lk = await startLiveKitDevServer({ port: 0, host: '127.0.0.1' });
  // The emulated model: the first utterance of a session asks for the light (it calls the client tool,
  // then says so); later ones are echoed back, as the default emulator does.
  gemini = await startGemini({
    scenario: {
      turns: [
        {
          hear: HEARD,
          steps: [{ toolCall: { name: 'set_light', args: { on: true, color: 'blue' } } }, { say: ANSWER }],
        },
      ],
    },
  });
  tokens = await startTokenServer({
    port: 0,
    livekitUrl: lk.url,
    apiKey: lk.apiKey,
    apiSecret: lk.apiSecret,
    geminiApiKey: 'local-emulator-key',
    geminiBaseUrl: gemini.url,
    rateLimit: false,
    logger: pino({ level: 'silent' }),
  });
  web = await startWebDemo({ port: 0, tokenServerUrl: tokens.url, agentJoinTimeoutMs: 90_000 });
  await startWorker();
  browser = await launchChromium({ wav });
}, 180_000);

afterAll(async () => {
  for (const p of pages.splice(0)) await p.close().catch(() => {});
  await browser?.close();
  await stopWorker();
  await web?.close();
  await tokens?.close();
  await gemini?.close();
  await lk?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Records every value the agent-state badge takes, and the peak level of the agent's audio element. */
async function instrument(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { statesSeen: string[]; agentPeak: number };
    w.statesSeen = [];
    w.agentPeak = 0;
    const badge = document.getElementById('agent-state')!;
    new MutationObserver(() => w.statesSeen.push(badge.dataset.state ?? '')).observe(badge, {
      attributes: true,
      attributeFilter: ['data-state'],
    });
    const ctx = new AudioContext();
    const metered = new WeakSet<HTMLAudioElement>();
    setInterval(() => {
      for (const el of document.querySelectorAll<HTMLAudioElement>('#audio-sink audio[data-role="agent"]')) {
        if (metered.has(el) || !el.srcObject) continue;
        metered.add(el);
        const analyser = ctx.createAnalyser();
        ctx.createMediaStreamSource(el.srcObject as MediaStream).connect(analyser);
        const buf = new Float32Array(analyser.fftSize);
        setInterval(() => {
          analyser.getFloatTimeDomainData(buf);
          let sum = 0;
          for (const v of buf) sum += v * v;
          w.agentPeak = Math.max(w.agentPeak, Math.sqrt(sum / buf.length));
        }, 20);
      }
    }, 100);
  });
}

describe('the whole local stack from a browser', () => {
  it('LiveKit room: the agent joins, hears the page, answers audibly, transcribes both sides, switches the light', async () => {
    const { context, page, logs } = await openPage(browser, web.url);
    pages.push(context);
    await instrument(page);
    try {
      await joinCall(page, { mode: 'livekit', name: 'Ada', room: 'e2e-room' });
      await page.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
      await screenshot(page, 'e2e-connected');
      // Dispatched automatically into the new room: the agent participant appears with a state.
      await page.waitForSelector(
        '#agent-state:is([data-state="listening"], [data-state="thinking"], [data-state="speaking"])',
        { timeout: 180_000 },
      );
      await screenshot(page, 'e2e-agent-joined');

      // The agent heard the page's microphone: the user's transcript, under the user's name.
      const mine = page.locator('#transcript li[data-role="self"][data-kind="speech"]').first();
      await expect.poll(() => mine.locator('.text').textContent(), { timeout: 180_000 }).toBe(HEARD);
      expect(await mine.locator('.speaker').textContent()).toBe('Ada');

      // The model's tool call reached the page as the agent's set_light RPC.
      await page.waitForSelector('#light[data-on="true"][data-color="blue"]', { timeout: WAIT });

      // The agent's answer, written and spoken.
      const theirs = page.locator('#transcript li[data-role="agent"]', { hasText: ANSWER });
      await theirs.first().waitFor({ timeout: WAIT });
      await page.waitForFunction(
        () => (window as unknown as { agentPeak: number }).agentPeak > 0.02,
        undefined,
        {
          timeout: WAIT,
        },
      );
      await page.waitForFunction(
        () => Number(document.querySelector<HTMLElement>('#visualiser')?.dataset.peak) > 0.02,
        undefined,
        {
          timeout: WAIT,
        },
      );
      const states = await page.evaluate(() => (window as unknown as { statesSeen: string[] }).statesSeen);
      expect(states).toContain('speaking');
      await screenshot(page, 'e2e-conversation');

      // Screen share: Chromium's capture goes through the room to the agent, which shows it to the model
      // as JPEG frames; stopping the share stops them.
      const videoFrames = () => gemini.stats().reduce((n, s) => n + s.videoFrames, 0);
      const before = videoFrames();
      await page.click('#screen');
      await page.waitForSelector('#screen[aria-pressed="true"]', { timeout: WAIT });
      await page.waitForSelector('#videos figure video', { timeout: WAIT });
      await expect.poll(videoFrames, { timeout: WAIT }).toBeGreaterThanOrEqual(before + 2);
      await screenshot(page, 'e2e-screen-share');
      await page.click('#screen');
      await page.waitForSelector('#screen[aria-pressed="false"]', { timeout: WAIT });
      await page.waitForSelector('#videos figure', { state: 'detached', timeout: WAIT });
      // The agent stops sampling once the unpublish reaches it (≤ 1 frame per second still in flight).
      await new Promise((r) => setTimeout(r, 2_000));
      const stopped = videoFrames();
      await new Promise((r) => setTimeout(r, 3_000));
      expect(videoFrames()).toBeLessThanOrEqual(stopped + 1);

      await page.click('#leave');
      await page.waitForSelector('body[data-phase="ended"]');
    } catch (err) {
      await screenshot(page, 'e2e-failure-livekit').catch(() => {});
      const probe = await page
        .evaluate(() => ({
          peak: (window as unknown as { agentPeak: number }).agentPeak,
          states: (window as unknown as { statesSeen: string[] }).statesSeen,
          visualiser: document.querySelector<HTMLElement>('#visualiser')?.dataset.peak,
          audio: [...document.querySelectorAll('#audio-sink audio')].map((a) => a.outerHTML),
          transcript: document.querySelector('#transcript')?.textContent,
        }))
        .catch(() => null);
      console.error('page probe', JSON.stringify(probe));
      console.error(
        `--- page console ---\n${logs.join('\n')}\n--- agent worker ---\n${workerLog.slice(-6000)}`,
      );
      throw err;
    }
  }, 480_000);

  it('push-to-talk room: the model hears the page only while Hold to talk is held', async () => {
    // The room's agent config comes from its metadata, as a backend would set it before anyone joins.
    const t0 = Date.now();
    await new RoomServiceClient(lk.url, lk.apiKey, lk.apiSecret).createRoom({
      name: 'e2e-ptt',
      metadata: JSON.stringify({ pushToTalk: true }),
    });
    const heardByModel = () =>
      gemini
        .stats()
        .filter((s) => s.openedAt >= t0)
        .reduce((n, s) => n + s.audioInSeconds, 0);
    const { context, page, logs } = await openPage(browser, web.url);
    pages.push(context);
    try {
      await joinCall(page, { mode: 'livekit', name: 'Ada', room: 'e2e-ptt' });
      const talk = await page.waitForSelector('#talk', { state: 'visible', timeout: 180_000 });
      // The recording loops (an utterance every ≈ 11 s): with the button up, none of it reaches the model.
      await new Promise((r) => setTimeout(r, 12_000));
      expect(heardByModel()).toBeLessThan(0.5);
      expect(await page.locator('#transcript li[data-role="self"]').count()).toBe(0);
      // Held through a whole cycle of the recording, then released: one turn, answered.
      await talk.hover();
      await page.mouse.down();
      await screenshot(page, 'e2e-push-to-talk');
      await new Promise((r) => setTimeout(r, 12_000));
      await page.mouse.up();
      const mine = page.locator('#transcript li[data-role="self"][data-kind="speech"]').first();
      await expect.poll(() => mine.locator('.text').textContent(), { timeout: WAIT }).toBe(HEARD);
      expect(heardByModel()).toBeGreaterThan(1);
      await page.waitForSelector('#light[data-on="true"][data-color="blue"]', { timeout: WAIT });
      await page
        .locator('#transcript li[data-role="agent"]', { hasText: ANSWER })
        .first()
        .waitFor({ timeout: WAIT });
      await page.click('#leave');
      await page.waitForSelector('body[data-phase="ended"]');
    } catch (err) {
      await screenshot(page, 'e2e-failure-ptt').catch(() => {});
      console.error(
        `--- page console ---\n${logs.join('\n')}\n--- agent worker ---\n${workerLog.slice(-6000)}`,
      );
      throw err;
    }
  }, 480_000);

  it('direct mode completes a turn against the same emulator and token server', async () => {
    const { context, page, logs } = await openPage(browser, web.url);
    pages.push(context);
    try {
      await joinCall(page, { mode: 'direct', name: 'Ada' });
      await page.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
      const mine = page.locator('#transcript li[data-role="self"]').first();
      await expect.poll(() => mine.getAttribute('data-final'), { timeout: WAIT }).toBe('true');
      expect(await mine.locator('.text').textContent()).toBe(HEARD);
      await page.waitForSelector('#light[data-on="true"][data-color="blue"]', { timeout: WAIT });
      await page
        .locator('#transcript li[data-role="agent"]', { hasText: ANSWER })
        .first()
        .waitFor({ timeout: WAIT });
      await page.waitForFunction(
        () => Number(document.querySelector<HTMLElement>('#visualiser')?.dataset.peak) > 0.02,
        undefined,
        {
          timeout: WAIT,
        },
      );
      await screenshot(page, 'e2e-direct');
      await page.click('#leave');
      await page.waitForSelector('body[data-phase="ended"]');
    } catch (err) {
      await screenshot(page, 'e2e-failure-direct').catch(() => {});
      console.error(`--- page console ---\n${logs.join('\n')}`);
      throw err;
    }
  }, 300_000);
});

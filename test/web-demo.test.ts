/**
 * The web demo in Debian's headless Chromium: the built bundle and its server, then direct mode (the
 * browser opens its own Gemini Live session with an ephemeral token) against the Gemini emulator and the
 * token server, plus the page's error states. No LiveKit server is needed here; see e2e-stack.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type LiveSession as EmulatorSession,
  type GeminiEmulator,
  start as startGemini,
} from '../emulators/gemini-live/index.ts';
import { startTokenServer, type TokenServer } from '../token-server/index.ts';
import { startWebDemo, type WebDemo } from '../web-demo/serve.ts';
import {
  joinCall,
  launchChromium,
  openPage,
  screenshot,
  transcriptTexts,
  writeSpeechWav,
} from './fixtures/web/browser.ts';

/** Generous wait for any one condition: the machine may be shared and heavily loaded. */
const WAIT = 90_000;

const quiet = { level: 'silent' } as const;
let dir: string;
let gemini: GeminiEmulator;
let tokens: TokenServer;
let refusing: TokenServer;
let web: WebDemo;
let browser: Browser;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'web-demo-'));
  const wav = writeSpeechWav(join(dir, 'speech.wav'));
  gemini = await startGemini({
    binaryFrames: true,
    scenario: {
      turns: [
        {
          hear: 'please switch the light on',
          steps: [
            { toolCall: { name: 'set_light', args: { on: true, color: 'red' } } },
            { say: 'Done, the light is red now.' },
          ],
        },
      ],
    },
  });
  const { pino } = await import('pino');
  const logger = pino(quiet);
  tokens = await startTokenServer({
    port: 0,
    livekitUrl: 'ws://127.0.0.1:9',
    apiKey: 'devkey',
    apiSecret: 'secret-secret-secret-secret-secret',
    geminiApiKey: 'emulator-key',
    geminiBaseUrl: gemini.url,
    rateLimit: false,
    logger,
  });
  // A token server that demands credentials the page does not have: every request is refused (401).
  refusing = await startTokenServer({
    port: 0,
    livekitUrl: 'ws://127.0.0.1:9',
    apiKey: 'devkey',
    apiSecret: 'secret-secret-secret-secret-secret',
    geminiApiKey: 'emulator-key',
    geminiBaseUrl: gemini.url,
    auth: { bearer: 'not-the-page' },
    logger,
  });
  web = await startWebDemo({ port: 0, tokenServerUrl: tokens.url, agentJoinTimeoutMs: 5_000 });
  browser = await launchChromium({ wav });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const close of closers.reverse()) await close().catch(() => {});
  await web?.close();
  await refusing?.close();
  await tokens?.close();
  await gemini?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
});

describe('web demo server', () => {
  it('serves the built page, hashed cacheable assets and the generated config', async () => {
    const html = await (await fetch(web.url)).text();
    expect(html).toContain('<title>');
    const scripts = [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    const res = await fetch(`${web.url}/${scripts[0]}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toContain('immutable');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    const config = await (await fetch(`${web.url}/config.json`)).json();
    expect(config).toMatchObject({ tokenServerUrl: tokens.url, agentJoinTimeoutMs: 5_000 });
    expect((await fetch(`${web.url}/nothing-here`)).status).toBe(404);
  });

  it('keeps secrets out of the bundle and the Gemini SDK out of the initial load', async () => {
    const html = await (await fetch(web.url)).text();
    const entry = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)![1]!;
    const code = await (await fetch(`${web.url}/${entry}`)).text();
    // The entry only pulls the mode it needs; the LiveKit and Gemini SDKs are separate chunks.
    expect(code.length).toBeLessThan(60_000);
    expect(code).not.toContain('BidiGenerateContent');
    for (const secret of ['secret-secret-secret-secret-secret', 'emulator-key'])
      expect(code).not.toContain(secret);
  });
});

describe('direct mode (browser → Gemini with an ephemeral token)', { timeout: 240_000 }, () => {
  it('completes a spoken turn: mic at 16 kHz, model voice audible, both transcripts, the light tool', async () => {
    const { context, page, logs } = await openPage(browser, web.url);
    closers.push(() => context.close());
    const session = gemini.nextSession();
    try {
      await joinCall(page, { mode: 'direct', name: 'Ada' });
      await page.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
      const live = await session;
      // The token server's default model, locked into the token: the catalogue's default.
      expect(live.stats.model).toBe('gemini-3.8-live');
      await screenshot(page, 'direct-connected');

      // The user's utterance transcribed (scenario text), then the model's answer, spoken and written.
      await page.waitForSelector('#transcript li[data-role="self"][data-final="true"]', { timeout: WAIT });
      expect((await transcriptTexts(page, 'self'))[0]).toBe('please switch the light on');
      expect(await page.textContent('#transcript li[data-role="self"] .speaker')).toBe('Ada');
      await page.waitForSelector('#light[data-on="true"]', { timeout: WAIT });
      expect(await page.getAttribute('#light', 'data-color')).toBe('red');
      expect(await page.getAttribute('#light', 'aria-label')).toBe('Light on (red)');
      await page.waitForFunction(
        () =>
          /light is red/.test(
            document.querySelector('#transcript li[data-role="agent"] .text')?.textContent ?? '',
          ),
        undefined,
        { timeout: WAIT },
      );
      // Audible: the model's voice, played through Web Audio, measured in the page.
      await page.waitForFunction(
        () => Number(document.querySelector('#visualiser')?.getAttribute('data-peak')) > 0.02,
        undefined,
        {
          timeout: WAIT,
        },
      );
      await page.waitForSelector('#agent-state[data-state="speaking"], #agent-state[data-state="listening"]');
      await screenshot(page, 'direct-turn');

      // What the emulator received: an ephemeral-token (v1alpha, constrained) session, 50 ms PCM chunks
      // whose declared rate matches their size (seconds = bytes / 2 / rate), the tool's response.
      const stats = live.stats;
      expect(stats).toMatchObject({ ephemeral: true, apiVersion: 'v1alpha' });
      expect(stats.audioInSeconds).toBeGreaterThan(1);
      expect(stats.audioInSeconds / stats.audioInFrames).toBeCloseTo(0.05, 2);
      expect(stats.toolResponses).toBeGreaterThanOrEqual(1);

      // Camera on: ~1 fps JPEG stills reach the session, with a local preview; off stops both.
      await page.click('#camera');
      await page.waitForSelector('#camera[aria-pressed="true"]', { timeout: WAIT });
      await page.waitForSelector('#videos figure video', { timeout: WAIT });
      await expect.poll(() => live.stats.videoFrames, { timeout: WAIT }).toBeGreaterThanOrEqual(2);
      await page.click('#camera');
      await page.waitForSelector('#camera[aria-pressed="false"]', { timeout: WAIT });
      await page.waitForSelector('#videos figure', { state: 'detached', timeout: WAIT });
      const frames = live.stats.videoFrames;

      // Mute (the looping fake microphone would talk over the answer), then type: the same session answers.
      await page.click('#mic');
      await page.waitForSelector('#mic[aria-pressed="false"]');
      await page.fill('#chat-input', 'hello from the keyboard');
      await page.press('#chat-input', 'Enter');
      await page.waitForSelector('#transcript li[data-kind="chat"][data-role="self"]');
      await page.waitForFunction(
        () =>
          [...document.querySelectorAll('#transcript li[data-role="agent"] .text')].some((e) =>
            e.textContent?.includes('hello from the keyboard'),
          ),
        undefined,
        { timeout: WAIT },
      );

      // Sampling stopped with the camera (a frame already in flight may still land).
      expect(live.stats.videoFrames).toBeLessThanOrEqual(frames + 1);
      await page.click('#leave');
      await page.waitForSelector('body[data-phase="ended"]');
      expect(await page.textContent('#join')).toBe('Rejoin');
      await screenshot(page, 'direct-left');
    } catch (err) {
      console.error(logs.join('\n'));
      throw err;
    }
  });
});

describe('errors the page explains', { timeout: 240_000 }, () => {
  it('token refused (HTTP 401) in both modes', async () => {
    const demo = await startWebDemo({
      port: 0,
      tokenServerUrl: refusing.url,
      distDir: join(import.meta.dirname, '..', 'web-demo', 'dist'),
    });
    closers.push(() => demo.close());
    const { context, page } = await openPage(browser, demo.url);
    closers.push(() => context.close());
    for (const mode of ['direct', 'livekit'] as const) {
      await joinCall(page, { mode, name: 'Eve' });
      const alert = await page.waitForSelector('#errors li[data-code="token-refused"]', { timeout: WAIT });
      expect(await alert.getAttribute('role')).toBe('alert');
      expect(await alert.textContent()).toMatch(/refused.*401/);
      await page.waitForSelector('body[data-phase="ended"]');
      expect(await page.isHidden('#call-panel')).toBe(true);
    }
    await screenshot(page, 'error-token-refused');
  });

  it('direct mode on a Vertex AI deployment (token server 501): shown as unavailable with the reason, room mode offered', async () => {
    const { pino } = await import('pino');
    const vertex = await startTokenServer({
      port: 0,
      livekitUrl: 'ws://127.0.0.1:9',
      apiKey: 'devkey',
      apiSecret: 'secret-secret-secret-secret-secret',
      vertexai: true,
      rateLimit: false,
      logger: pino(quiet),
    });
    closers.push(() => vertex.close());
    const demo = await startWebDemo({
      port: 0,
      tokenServerUrl: vertex.url,
      distDir: join(import.meta.dirname, '..', 'web-demo', 'dist'),
    });
    closers.push(() => demo.close());
    const { context, page } = await openPage(browser, demo.url);
    closers.push(() => context.close());
    const before = gemini.stats().length;
    await joinCall(page, { mode: 'direct', name: 'Vera' });
    const alert = await page.waitForSelector('#errors li[data-code="direct-unavailable"]', { timeout: WAIT });
    expect(await alert.getAttribute('role')).toBe('alert');
    expect(await alert.textContent()).toMatch(/Direct mode is unavailable: .*Vertex AI.*no ephemeral tokens/);
    await page.waitForSelector('body[data-phase="ended"]');
    // The form now offers room mode only, and says why next to the direct option.
    expect(await page.isDisabled('#mode-direct')).toBe(true);
    expect(await page.isChecked('input[name="mode"][value="livekit"]')).toBe(true);
    expect(await page.isVisible('#direct-unavailable')).toBe(true);
    expect(await page.textContent('#direct-unavailable')).toMatch(/Vertex AI/);
    expect(await page.isVisible('#errors li[data-code="token-refused"]')).toBe(false);
    expect(gemini.stats().length).toBe(before);
    await screenshot(page, 'error-direct-unavailable');
  });

  it('token server unreachable', async () => {
    const demo = await startWebDemo({
      port: 0,
      tokenServerUrl: 'http://127.0.0.1:9',
      distDir: join(import.meta.dirname, '..', 'web-demo', 'dist'),
    });
    closers.push(() => demo.close());
    const { context, page } = await openPage(browser, demo.url);
    closers.push(() => context.close());
    await joinCall(page, { mode: 'livekit', name: 'Eve' });
    await page.waitForSelector('#errors li[data-code="token-server-unreachable"]', { timeout: WAIT });
  });

  it('microphone permission denied: says so, and the session still works for chat', async () => {
    const denying = await launchChromium({ allowMedia: false });
    closers.push(() => denying.close());
    const { page } = await openPage(denying, web.url);
    await joinCall(page, { mode: 'direct', name: 'Mallory' });
    await page.waitForSelector('#errors li[data-code="mic-denied"]', { timeout: WAIT });
    await page.waitForSelector('body[data-phase="connected"]');
    expect(await page.getAttribute('#mic', 'aria-pressed')).toBe('false');
    await screenshot(page, 'error-mic-denied');
    await page.fill('#chat-input', 'typing instead');
    await page.press('#chat-input', 'Enter');
    // The emulator's scripted first turn answers whatever comes first, typed or spoken.
    await page.waitForFunction(
      () =>
        /light is red/.test(
          document.querySelector('#transcript li[data-role="agent"] .text')?.textContent ?? '',
        ),
      undefined,
      { timeout: WAIT },
    );
    expect(await transcriptTexts(page, 'self')).toEqual(['typing instead']);
  });

  it('a refused Gemini session (1008) is reported as a disconnection', async () => {
    const { context, page } = await openPage(browser, web.url);
    closers.push(() => context.close());
    const session = gemini.nextSession();
    await joinCall(page, { mode: 'direct', name: 'Bob' });
    await page.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
    (await session).close(1008, 'Requested entity was not found.');
    const alert = await page.waitForSelector('#errors li[data-code="disconnected"]', { timeout: WAIT });
    expect(await alert.textContent()).toContain('1008');
    await page.waitForSelector('body[data-phase="ended"]');
    await screenshot(page, 'error-disconnected');
  });

  it.each([
    {
      what: 'a dropped Gemini connection (1011) is resumed with the latest handle',
      end: (s: EmulatorSession) => s.close(1011, 'Internal error encountered.'),
    },
    {
      // The service refuses a resume while the old connection is open: the page closes it first.
      what: 'goAway: the call closes the old connection, then resumes on a new one',
      end: (s: EmulatorSession) => s.goAway(10_000),
    },
  ])('$what; the conversation goes on', async ({ end }) => {
    const { context, page, logs } = await openPage(browser, web.url);
    closers.push(() => context.close());
    const first = gemini.nextSession();
    await joinCall(page, { mode: 'direct', name: 'Bob' });
    await page.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
    // One complete turn, so the emulator has issued a resumption handle that covers it.
    await page
      .locator('#transcript li[data-role="agent"][data-final="true"]', { hasText: 'light is red now' })
      .waitFor({ timeout: WAIT });
    await page.click('#mic');
    await page.waitForSelector('#mic[aria-pressed="false"]', { timeout: WAIT });
    const old = await first;
    const resumed = gemini.nextSession((s) => s.stats.resumed);
    end(old);
    const next = await resumed;
    expect(next.stats.sessionId).toBe(old.stats.sessionId);
    // After goAway: closed by the page (1000/1005), long before the goAway deadline would have (1011).
    if (old.stats.goAways) expect(old.stats.closeCode).not.toBe(1011);
    await page.fill('#chat-input', 'still there?');
    await page.press('#chat-input', 'Enter');
    try {
      await page
        .locator('#transcript li[data-role="agent"]', { hasText: 'still there?' })
        .waitFor({ timeout: WAIT });
    } catch (err) {
      console.error(logs.join('\n'));
      throw err;
    }
    expect(await page.getAttribute('body', 'data-phase')).toBe('connected');
    expect(await page.locator('#errors li').count()).toBe(0);
  });
});

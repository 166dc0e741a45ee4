import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GoogleGenAI } from '@google/genai';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GeminiEmulator, start } from '../emulators/gemini-live/index.ts';
import { MODEL, WAIT_MS } from './fixtures/gemini-client.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ROOT = join(import.meta.dirname, '..');

/** Bundles an SDK's browser build into an IIFE that defines `window[name]`. */
async function bundle(entry: string, name: string): Promise<string> {
  const out = await build({
    configFile: false,
    root: ROOT,
    logLevel: 'silent',
    build: { write: false, minify: false, lib: { entry, formats: ['iife'], name, fileName: name } },
  });
  const outputs = Array.isArray(out) ? out : [out];
  for (const o of outputs) {
    if ('output' in o) for (const chunk of o.output) if (chunk.type === 'chunk') return chunk.code;
  }
  throw new Error('no bundle produced');
}

interface PageResult {
  transcript: string;
  audioChunks: number;
  setupComplete: boolean;
}

/** Runs a Live session inside the page with the bundled SDK `sdk` and returns what it received. */
function browserSession(
  page: Page,
  sdk: string,
  opts: { baseUrl: string; apiKey: string; apiVersion?: string },
) {
  return page.evaluate(
    async ({ sdk, opts, model, timeout }) => {
      const { GoogleGenAI } = (
        window as unknown as Record<string, { GoogleGenAI: new (o: unknown) => unknown }>
      )[sdk]!;
      const ai = new GoogleGenAI({
        apiKey: opts.apiKey,
        httpOptions: { baseUrl: opts.baseUrl, ...(opts.apiVersion ? { apiVersion: opts.apiVersion } : {}) },
      }) as {
        live: {
          connect(p: unknown): Promise<{
            sendRealtimeInput(p: unknown): void;
            close(): void;
            setupComplete?: unknown;
          }>;
        };
      };
      let transcript = '';
      let audioChunks = 0;
      let done!: () => void;
      const finished = new Promise<void>((r) => {
        done = r;
      });
      type Msg = {
        serverContent?: {
          turnComplete?: boolean;
          outputTranscription?: { text?: string };
          modelTurn?: { parts?: { inlineData?: unknown }[] };
        };
      };
      const session = await ai.live.connect({
        model,
        config: { outputAudioTranscription: {} },
        callbacks: {
          onmessage: (m: Msg) => {
            transcript += m.serverContent?.outputTranscription?.text ?? '';
            audioChunks += (m.serverContent?.modelTurn?.parts ?? []).filter((p) => p.inlineData).length;
            if (m.serverContent?.turnComplete) done();
          },
        },
      });
      session.sendRealtimeInput({ text: 'from the browser' });
      await Promise.race([
        finished,
        new Promise((_, rej) => setTimeout(() => rej(new Error('no turnComplete')), timeout)),
      ]);
      session.close();
      return { transcript, audioChunks, setupComplete: session.setupComplete !== undefined } as PageResult;
    },
    { sdk, opts, model: MODEL, timeout: WAIT_MS },
  );
}

/** The SDKs' browser builds (3.x and 2.x) in Chromium against the emulator, binary frames included. */
describe.skipIf(!existsSync(CHROMIUM))('Gemini Live emulator: browser SDK builds', () => {
  let emu: GeminiEmulator;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    const [v3, v2] = await Promise.all([
      bundle(join(ROOT, 'node_modules/@google/genai/dist/web/index.mjs'), 'GenAI3'),
      bundle(join(ROOT, 'node_modules/genai2/dist/web/index.mjs'), 'GenAI2'),
    ]);
    // Binary frames: what Google's service sends to browsers (they arrive as Blobs).
    emu = await start({ apiKey: 'browser-key', binaryFrames: true, pacing: Number.POSITIVE_INFINITY });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage();
    await page.goto(`${emu.url}/healthz`);
    await page.addScriptTag({ content: v3 });
    await page.addScriptTag({ content: v2 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await emu?.close();
  });

  it('SDK 3.x web build: API key on the v1 path', async () => {
    const r = await browserSession(page, 'GenAI3', { baseUrl: emu.url, apiKey: 'browser-key' });
    expect(r).toMatchObject({
      setupComplete: true,
      transcript: 'You said "from the browser". That is turn 1 of this conversation.',
    });
    expect(r.audioChunks).toBeGreaterThan(10);
    expect(emu.stats().at(-1)).toMatchObject({ apiVersion: 'v1', ephemeral: false });
  });

  it('SDK 2.x web build: v1beta path', async () => {
    const r = await browserSession(page, 'GenAI2', { baseUrl: emu.url, apiKey: 'browser-key' });
    expect(r.transcript).toContain('from the browser');
    expect(emu.stats().at(-1)!.apiVersion).toBe('v1beta');
  });

  it('an ephemeral token minted server-side works from the browser (Constrained path)', async () => {
    const server = new GoogleGenAI({
      apiKey: 'browser-key',
      httpOptions: { baseUrl: emu.url, apiVersion: 'v1alpha' },
    });
    const token = await server.authTokens.create({ config: { uses: 1 } });
    const r = await browserSession(page, 'GenAI3', {
      baseUrl: emu.url,
      apiKey: token.name!,
      apiVersion: 'v1alpha',
    });
    expect(r.transcript).toContain('from the browser');
    expect(emu.stats().at(-1)).toMatchObject({ apiVersion: 'v1alpha', ephemeral: true });
  });
});

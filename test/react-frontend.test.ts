/**
 * The React starter (examples/react-frontend) against the stack `npm start` runs — LiveKit dev server,
 * Gemini emulator, token server and the real agent worker in its own process — in headless Chromium
 * with a recorded voice as the microphone. Everything is read from what the starter renders, so this
 * also checks LiveKit's React hooks against our servers and agent: `useSession` with
 * `TokenSource.endpoint`, `useAgent` (listening/thinking/speaking, `failed` with its reason),
 * `useVoiceAssistant` + `BarVisualizer`, `useSessionMessages` (both transcripts by speaker, chat).
 * Screenshots (desktop and a 390×844 phone) go to test/artifacts/.
 */
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
import { launchChromium, openPage, screenshot, writeSpeechWav } from './fixtures/web/browser.ts';
import { type ReactFrontend, serveReactFrontend } from './fixtures/web/react-frontend.ts';
import { AgentWorker } from './scale-helpers.ts';

/** Generous wait for any one condition: the machine may be shared and heavily loaded. */
const WAIT = Number(process.env.REACT_WAIT ?? 90_000);
/** An agent name the token server allows but no worker serves. */
const ABSENT_AGENT = 'absent-agent';
/** What the emulator transcribes an utterance as (it cannot recognise words), and says back. */
const SPEECH = /^\[speech \d+(\.\d)?s\]$/;

let dir: string;
let lk: LiveKitDevServer;
let gemini: GeminiEmulator;
let tokens: TokenServer;
let worker: AgentWorker;
let app: ReactFrontend;
let browser: Browser;
const contexts: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'react-frontend-'));
  // Long pauses between utterances, so the agent's answers are not cut short by the looping recording.
  const wav = writeSpeechWav(join(dir, 'speech.wav'), { gap: 9 });
  lk = await startLiveKitDevServer({ port: 0, host: '127.0.0.1' });
  gemini = await startGemini({});
  tokens = await startTokenServer({
    port: 0,
    livekitUrl: lk.url,
    apiKey: lk.apiKey,
    apiSecret: lk.apiSecret,
    // No default agent: rooms get the automatic dispatch, as with `npm start`; a page may still name
    // this one (nobody serves it).
    allowedAgents: [ABSENT_AGENT],
    rateLimit: false,
    logger: pino({ level: 'silent' }),
  });
  worker = await AgentWorker.start({
    livekit: { url: lk.url, apiKey: lk.apiKey, apiSecret: lk.apiSecret },
    geminiUrl: gemini.url,
    tag: 'react',
  });
  [app, browser] = await Promise.all([
    serveReactFrontend({ tokenServerUrl: tokens.url }),
    launchChromium({ wav }),
    worker.registered(),
  ]);
}, 180_000);

afterAll(async () => {
  for (const c of contexts.splice(0)) await c.close().catch(() => {});
  await browser?.close();
  await worker?.stop();
  await app?.close();
  await tokens?.close();
  await gemini?.close();
  await lk?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Opens the starter with `?query`, fills the form as a user would and starts the session. */
async function startSession(query: string, viewport = { width: 1280, height: 800 }) {
  const { context, page, logs } = await openPage(browser, `${app.url}/?${query}`, {
    viewport,
    ready: '[data-testid="welcome"]',
  });
  contexts.push(context);
  await record(page);
  try {
    await page.click('[data-testid="start"]');
    await page.waitForSelector('[data-testid="session"][data-connection="connected"]', { timeout: WAIT });
  } catch (err) {
    await onFailure(page, 'start', logs);
    throw err;
  }
  return { page, logs };
}

/** Records every agent state the page shows and the tallest bar of the agent's voice visualiser. */
async function record(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as {
      statesSeen: string[];
      tallestBar: number;
      peers: RTCPeerConnection[];
      audioContexts: AudioContext[];
    };
    w.statesSeen = [];
    w.tallestBar = 0;
    // Kept for the failure report: what the page's connections received, and its audio contexts' states.
    w.peers = [];
    w.audioContexts = [];
    const Peer = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Peer {
      constructor(...args: ConstructorParameters<typeof RTCPeerConnection>) {
        super(...args);
        w.peers.push(this);
      }
    };
    const Context = window.AudioContext;
    window.AudioContext = class extends Context {
      constructor(...args: ConstructorParameters<typeof AudioContext>) {
        super(...args);
        w.audioContexts.push(this);
      }
      override createMediaStreamSource(stream: MediaStream): MediaStreamAudioSourceNode {
        (this as unknown as { sources: MediaStreamTrack[] }).sources = stream.getTracks();
        return super.createMediaStreamSource(stream);
      }
      override createAnalyser(): AnalyserNode {
        const analyser = super.createAnalyser();
        (this as unknown as { analyser: AnalyserNode }).analyser = analyser;
        return analyser;
      }
    };
    setInterval(() => {
      const state = document.querySelector<HTMLElement>('[data-testid="agent-tile"]')?.dataset.agentState;
      if (state && w.statesSeen.at(-1) !== state) w.statesSeen.push(state);
      for (const bar of document.querySelectorAll<HTMLElement>(
        '[data-testid="agent-visualizer"] .lk-audio-bar',
      ))
        w.tallestBar = Math.max(w.tallestBar, Number.parseFloat(bar.style.height) || 0);
    }, 20);
  });
}

const seen = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as { statesSeen: string[]; tallestBar: number };
    return { states: w.statesSeen, tallestBar: w.tallestBar };
  });

async function onFailure(page: Page, name: string, logs: string[]): Promise<void> {
  await screenshot(page, `react-frontend-failure-${name}`).catch(() => {});
  const probe = await page
    .evaluate(() => ({
      error: document.querySelector('[role="alert"]')?.textContent,
      agent: document.querySelector('[data-testid="agent-tile"]')?.outerHTML.slice(0, 600),
      transcript: document.querySelector('[data-testid="transcript"]')?.innerHTML.slice(0, 3000),
    }))
    .catch(() => null);
  console.error('page probe', JSON.stringify(probe));
  const media = await page
    .evaluate(async () => {
      const w = window as unknown as { peers?: RTCPeerConnection[]; audioContexts?: AudioContext[] };
      const inbound = [];
      for (const pc of w.peers ?? []) {
        const stats = await pc.getStats();
        for (const s of stats.values())
          if (s.type === 'inbound-rtp' && s.kind === 'audio')
            inbound.push({
              track: s.trackIdentifier,
              packets: s.packetsReceived,
              lost: s.packetsLost,
              samples: s.totalSamplesReceived,
              concealed: s.concealedSamples,
              energy: s.totalAudioEnergy,
            });
      }
      const elements = [...document.querySelectorAll('audio')].map((a) => ({
        paused: a.paused,
        muted: a.muted,
        readyState: a.readyState,
        tracks: (a.srcObject as MediaStream | null)
          ?.getTracks()
          .map((t) => `${t.id} ${t.readyState}${t.muted ? ' muted' : ''}`),
      }));
      const audioContexts = (w.audioContexts ?? []).map((c) => ({
        state: c.state,
        time: c.currentTime,
        spectrum: (() => {
          const a = (c as unknown as { analyser?: AnalyserNode }).analyser;
          if (!a) return undefined;
          const bins = new Float32Array(a.frequencyBinCount);
          a.getFloatFrequencyData(bins);
          const peak = (from: number, to: number) => Math.max(...bins.slice(from, to)).toFixed(1);
          return { rate: c.sampleRate, low: peak(0, 100), mid: peak(100, 200), high: peak(200, bins.length) };
        })(),
        sources: (c as unknown as { sources?: MediaStreamTrack[] }).sources?.map(
          (t) => `${t.id} ${t.readyState}${t.muted ? ' muted' : ''}`,
        ),
      }));
      return { inbound, elements, audioContexts };
    })
    .catch((err) => String(err));
  console.error('page media', JSON.stringify(media));
  const rooms = new RoomServiceClient(lk.url, lk.apiKey, lk.apiSecret);
  for (const room of await rooms.listRooms().catch(() => [])) {
    const people = await rooms.listParticipants(room.name).catch(() => []);
    const tracks = people.map(
      (p) => `${p.identity}: ${p.tracks.map((t) => `${t.source}/${t.mid}`).join(' ')}`,
    );
    console.error(`room ${room.name} — ${tracks.join('; ')}`);
  }
  console.error(
    `--- page console ---\n${logs.join('\n')}\n--- agent worker ---\n${worker.output.slice(-6000)}`,
  );
}

describe('the React starter against the local stack', () => {
  /** Waits until the agent is up; returns its identity. useVoiceAssistant agrees with useAgent then. */
  async function agentUp(page: Page): Promise<string> {
    await page.waitForSelector(
      '[data-testid="agent-tile"]:is([data-agent-state="listening"], [data-agent-state="thinking"], [data-agent-state="speaking"])',
      { timeout: WAIT },
    );
    const tile = page.locator('[data-testid="agent-tile"]');
    expect(await tile.getAttribute('data-va-state')).toMatch(/^(listening|thinking|speaking)$/);
    const identity = await tile.getAttribute('data-identity');
    expect(identity).toMatch(/^agent-/);
    return identity!;
  }

  it('chat answered by the agent, its states and voice, camera and screen tiles, devices, phone layout', async () => {
    const { page, logs } = await startSession('name=Ada&room=react-chat');
    try {
      const agentIdentity = await agentUp(page);
      // Chat: the message shows as the user's, and the agent answers it (the emulator quotes it; our
      // agent prefixes chat with the sender's name), written under the agent and spoken.
      await page.fill('[data-testid="chat-input"]', 'what is the weather');
      await page.click('[data-testid="chat-send"]');
      const chat = page.locator('li[data-kind="chatMessage"][data-role="self"]', {
        hasText: 'what is the weather',
      });
      await chat.waitFor({ timeout: WAIT });
      expect(await chat.locator('.speaker').textContent()).toBe('Ada');
      await page
        .locator(`li[data-role="agent"][data-kind="agentTranscript"][data-identity="${agentIdentity}"]`, {
          hasText: /You said ".*what is the weather/,
        })
        .first()
        .waitFor({ timeout: WAIT });
      // The agent spoke: its state went through speaking and its voice moved the visualiser's bars
      // (12 % is the floor the starter sets for silence).
      await expect.poll(async () => (await seen(page)).states, { timeout: WAIT }).toContain('speaking');
      await expect.poll(async () => (await seen(page)).tallestBar, { timeout: WAIT }).toBeGreaterThan(20);
      await screenshot(page, 'react-frontend-desktop');

      // Camera and screen share: each becomes its own tile with video.
      const local = (source: string) => `[data-testid="tile"][data-local="true"][data-source="${source}"]`;
      await page.waitForSelector(local('camera'), { timeout: WAIT });
      expect(await page.locator(`${local('camera')} video`).count()).toBe(0);
      await page.click('[data-testid="toggle-camera"]');
      await page.waitForSelector(`${local('camera')} video`, { timeout: WAIT });
      await page.click('[data-testid="toggle-screen"]');
      await page.waitForSelector(`${local('screen_share')} video`, { timeout: WAIT });
      // Devices can be chosen (Chromium's fake devices).
      expect(await page.locator('[data-testid="device-audioinput"] option').count()).toBeGreaterThan(0);
      expect(await page.locator('[data-testid="device-videoinput"] option').count()).toBeGreaterThan(0);
      await screenshot(page, 'react-frontend-desktop-media');

      // Phone-sized: nothing wider than the screen, the controls and the chat reachable without scrolling.
      await page.setViewportSize({ width: 390, height: 844 });
      await expect
        .poll(() => page.evaluate(() => document.documentElement.scrollWidth), { timeout: WAIT })
        .toBeLessThanOrEqual(390);
      for (const id of ['leave', 'chat-input', 'toggle-microphone', 'agent-tile']) {
        const box = await page.locator(`[data-testid="${id}"]`).boundingBox();
        expect(box, id).not.toBeNull();
        expect(box!.x + box!.width, id).toBeLessThanOrEqual(390);
        expect(box!.y + box!.height, id).toBeLessThanOrEqual(844);
      }
      await screenshot(page, 'react-frontend-mobile-390x844');

      await page.click('[data-testid="leave"]');
      await page.waitForSelector('[data-testid="welcome"]', { timeout: WAIT });
    } catch (err) {
      await onFailure(page, 'chat', logs);
      throw err;
    }
  }, 240_000);

  it("voice: the user's and the agent's transcripts under the right speakers", async () => {
    const { page, logs } = await startSession('name=Ada&room=react-voice');
    try {
      const agentIdentity = await agentUp(page);
      // The microphone's utterance, transcribed by the agent and shown as the user's own (the agent
      // sends it on behalf of the speaker), then the agent's answer under the agent.
      const mine = page.locator(
        '[data-testid="transcript"] li[data-role="self"][data-kind="userTranscript"]',
      );
      await expect.poll(() => mine.first().getAttribute('data-final'), { timeout: WAIT }).toBe('true');
      expect(await mine.first().locator('.text').textContent()).toMatch(SPEECH);
      expect(await mine.first().locator('.speaker').textContent()).toBe('Ada');
      const theirs = page.locator(
        `[data-testid="transcript"] li[data-role="agent"][data-kind="agentTranscript"][data-identity="${agentIdentity}"]`,
      );
      await expect.poll(() => theirs.first().getAttribute('data-final'), { timeout: WAIT }).toBe('true');
      expect(await theirs.first().locator('.text').textContent()).toMatch(SPEECH);
      // Nothing attributed to the wrong side.
      expect(await page.locator('li[data-role="self"][data-kind="agentTranscript"]').count()).toBe(0);
      expect(await page.locator('li[data-role="agent"][data-kind="userTranscript"]').count()).toBe(0);
      await screenshot(page, 'react-frontend-voice');
    } catch (err) {
      await onFailure(page, 'voice', logs);
      throw err;
    }
  }, 240_000);

  it("failed: a dispatched agent that never joins shows LiveKit's reason", async () => {
    const { page, logs } = await startSession(`name=Bo&room=react-no-agent&agent=${ABSENT_AGENT}`);
    try {
      await page.waitForSelector('[data-testid="agent-tile"][data-agent-state="failed"]', { timeout: WAIT });
      expect(await page.locator('[data-testid="agent-failure"]').textContent()).toBe(
        'Agent did not join the room.',
      );
      const { states } = await seen(page);
      expect(states).not.toContain('listening');
      await screenshot(page, 'react-frontend-no-agent');
    } catch (err) {
      await onFailure(page, 'no-agent', logs);
      throw err;
    }
  }, 120_000);

  it("failed: a room whose agent configuration is invalid shows the agent's reason", async () => {
    await new RoomServiceClient(lk.url, lk.apiKey, lk.apiSecret).createRoom({
      name: 'react-bad-config',
      metadata: JSON.stringify({ video: { fps: 5 } }),
    });
    const { page, logs } = await startSession('name=Cy&room=react-bad-config');
    try {
      await page.waitForSelector('[data-testid="agent-tile"][data-agent-state="failed"]', { timeout: WAIT });
      await expect
        .poll(() => page.locator('[data-testid="agent-failure"]').textContent(), { timeout: WAIT })
        .toMatch(/video\.fps/);
      await screenshot(page, 'react-frontend-agent-failed');
    } catch (err) {
      await onFailure(page, 'bad-config', logs);
      throw err;
    }
  }, 120_000);
});

/**
 * The web demo's LiveKit mode in Debian's headless Chromium, against the LiveKit dev server and the
 * token server, with a scripted agent participant (real rtc-node client) that exercises each agent
 * convention the page depends on. The real agent worker is exercised in e2e-stack.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrackSource } from '@livekit/rtc-node';
import { RoomServiceClient } from 'livekit-server-sdk';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type LiveKitDevServer, startLiveKitDevServer } from '../emulators/livekit/index.ts';
import { startTokenServer, type TokenServer } from '../token-server/index.ts';
import { startWebDemo, type WebDemo } from '../web-demo/serve.ts';
import { joinCall, launchChromium, openPage, screenshot, writeSpeechWav } from './fixtures/web/browser.ts';
import { ScriptedAgent } from './fixtures/web/scripted-agent.ts';

/** Generous wait for any one condition: the machine may be shared and heavily loaded. */
const WAIT = 90_000;

let dir: string;
let lk: LiveKitDevServer;
let tokens: TokenServer;
let web: WebDemo;
let browser: Browser;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'web-demo-lk-'));
  lk = await startLiveKitDevServer({ port: 0, host: '127.0.0.1' });
  tokens = await startTokenServer({
    port: 0,
    livekitUrl: lk.url,
    apiKey: lk.apiKey,
    apiSecret: lk.apiSecret,
    rateLimit: false,
    logger: pino({ level: 'silent' }),
  });
  web = await startWebDemo({ port: 0, tokenServerUrl: tokens.url, agentJoinTimeoutMs: 3_000 });
  browser = await launchChromium({ wav: writeSpeechWav(join(dir, 'speech.wav')) });
}, 180_000);

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn().catch(() => {});
});

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await tokens?.close();
  await lk?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function page(): Promise<{ page: Page; logs: string[] }> {
  const opened = await openPage(browser, web.url);
  cleanup.push(() => opened.context.close());
  return opened;
}

async function agentIn(room: string): Promise<ScriptedAgent> {
  const agent = await ScriptedAgent.join(lk, room);
  cleanup.push(() => agent.leave());
  return agent;
}

/** Starts a meter on the page's audio element for `identity` (Web Audio, in the page). */
async function meterAudioOf(p: Page, identity: string): Promise<void> {
  await p.waitForSelector(`#audio-sink audio[data-identity="${identity}"]`, {
    state: 'attached',
    timeout: WAIT,
  });
  await p.evaluate((id) => {
    const el = document.querySelector<HTMLAudioElement>(`#audio-sink audio[data-identity="${id}"]`)!;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    ctx.createMediaStreamSource(el.srcObject as MediaStream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const w = window as unknown as { peakOf: Record<string, number> };
    w.peakOf ??= {};
    w.peakOf[id] = 0;
    setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      w.peakOf[id] = Math.max(w.peakOf[id]!, Math.sqrt(sum / buf.length));
    }, 20);
  }, identity);
}

/** expect.poll with room for a loaded machine (its default is one second). */
function poll<T>(fn: () => T | Promise<T>) {
  return expect.poll(fn, { timeout: WAIT });
}

function entry(p: Page, identity: string) {
  return p.locator(`#transcript li[data-identity="${identity}"]`);
}

describe('LiveKit mode', { timeout: 240_000 }, () => {
  it('joins through the token server; shows agent state, voice, transcripts, light; chat reaches the agent', async () => {
    const agent = await agentIn('room-a');
    await agent.setState('listening');
    await agent.startVoice();
    const { page: ada, logs } = await page();
    try {
      await joinCall(ada, { mode: 'livekit', name: 'Ada', room: 'room-a' });
      await ada.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
      await ada.waitForSelector('#agent-state[data-state="listening"]', { timeout: WAIT });
      await ada.waitForSelector('#mic[aria-pressed="true"]', { timeout: WAIT });
      const user = await agent.participantNamed('Ada');
      expect([...user.trackPublications.values()].some((t) => t.kind === 1 /* audio */)).toBe(true);

      // The agent's voice is audible in the page: energy on its <audio> element and in the visualiser.
      await meterAudioOf(ada, agent.identity);
      await ada.waitForFunction(
        (id) => ((window as unknown as { peakOf: Record<string, number> }).peakOf[id] ?? 0) > 0.02,
        agent.identity,
        { timeout: WAIT },
      );
      await ada.waitForFunction(
        () => Number(document.querySelector('#visualiser')?.getAttribute('data-peak')) > 0.02,
        undefined,
        {
          timeout: WAIT,
        },
      );

      // User transcript: an interim version, then the final one replaces it in place.
      await agent.transcribeUser(user, 'SG_u1', 'hello wor', false);
      await poll(() => entry(ada, user.identity).getAttribute('data-final')).toBe('false');
      await agent.transcribeUser(user, 'SG_u1', 'hello world', true);
      await poll(() => entry(ada, user.identity).getAttribute('data-final')).toBe('true');
      expect(await entry(ada, user.identity).count()).toBe(1);
      expect(await entry(ada, user.identity).locator('.text').textContent()).toBe('hello world');
      expect(await entry(ada, user.identity).locator('.speaker').textContent()).toBe('Ada');
      expect(await entry(ada, user.identity).getAttribute('data-role')).toBe('self');

      // Agent state and its own streamed transcript.
      await agent.setState('speaking');
      await ada.waitForSelector('#agent-state[data-state="speaking"]');
      await agent.say('SG_a1', ['Hi ', 'Ada, ', 'how can I help?']);
      await poll(() => entry(ada, agent.identity).getAttribute('data-final')).toBe('true');
      expect(await entry(ada, agent.identity).locator('.text').textContent()).toBe('Hi Ada, how can I help?');
      expect(await entry(ada, agent.identity).locator('.speaker').textContent()).toBe('Gemini agent');
      expect(await entry(ada, agent.identity).getAttribute('data-role')).toBe('agent');

      // The client-side tool: the agent switches the light by RPC; a malformed call is refused.
      expect(JSON.parse(await agent.setLight(user.identity, { on: true, color: '#00ff00' }))).toEqual({
        ok: true,
      });
      await ada.waitForSelector('#light[data-on="true"][data-color="#00ff00"]');
      await expect(agent.setLight(user.identity, { on: 'yes' })).rejects.toMatchObject({ code: 1500 });
      await expect(agent.setLight(user.identity, 'not json')).rejects.toMatchObject({ code: 1500 });
      expect(await ada.getAttribute('#light', 'data-on')).toBe('true');

      // Chat goes to the room on lk.chat.
      await ada.fill('#chat-input', 'what can you do?');
      await ada.press('#chat-input', 'Enter');
      await poll(() => agent.chats).toContainEqual({
        from: user.identity,
        text: 'what can you do?',
      });
      // Camera on: a local preview, and the track reaches the room; off again removes both.
      await ada.click('#camera');
      await ada.waitForSelector('#camera[aria-pressed="true"]', { timeout: WAIT });
      await ada.waitForSelector('#videos figure video', { timeout: WAIT });
      await poll(() =>
        [...user.trackPublications.values()].some((t) => t.source === TrackSource.SOURCE_CAMERA),
      ).toBe(true);
      await screenshot(ada, 'livekit-conversation');
      await ada.click('#camera');
      await ada.waitForSelector('#camera[aria-pressed="false"]', { timeout: WAIT });
      await ada.waitForSelector('#videos figure', { state: 'detached', timeout: WAIT });
    } catch (err) {
      console.error(logs.join('\n'));
      throw err;
    }
  });

  it('several people in one room share one conversation; leave and rejoin', async () => {
    const agent = await agentIn('room-b');
    await agent.setState('listening');
    const { page: ada } = await page();
    const { page: bob } = await page();
    await joinCall(ada, { mode: 'livekit', name: 'Ada', room: 'room-b' });
    await joinCall(bob, { mode: 'livekit', name: 'Bob', room: 'room-b' });
    for (const p of [ada, bob])
      await p.waitForSelector('#agent-state[data-state="listening"]', { timeout: WAIT });
    const adaP = await agent.participantNamed('Ada');
    const bobP = await agent.participantNamed('Bob');
    // Agents transcribe a user's microphone track, once its audio flows: wait until it is published.
    await ada.waitForSelector('#mic[aria-pressed="true"]', { timeout: WAIT });
    await poll(() => adaP.trackPublications.size).toBeGreaterThan(0);

    await agent.transcribeUser(adaP, 'SG_1', 'turn the light on', true);
    await agent.say('SG_2', ['Sure, ', 'Ada.']);
    await ada.fill('#chat-input', 'thanks');
    await ada.press('#chat-input', 'Enter');
    for (const p of [ada, bob]) {
      await poll(() => entry(p, agent.identity).locator('.text').textContent()).toBe('Sure, Ada.');
      await poll(() => p.locator('#transcript li[data-kind="chat"] .text').textContent()).toBe('thanks');
      await poll(() => entry(p, adaP.identity).first().locator('.speaker').textContent()).toBe('Ada');
    }
    // Ada is "self" on her page and a named other user on Bob's; each hears the other.
    expect(await entry(bob, adaP.identity).first().getAttribute('data-role')).toBe('user');
    await bob.waitForSelector(`#audio-sink audio[data-identity="${adaP.identity}"]`, {
      state: 'attached',
      timeout: WAIT,
    });
    await ada.waitForSelector(`#audio-sink audio[data-identity="${bobP.identity}"]`, {
      state: 'attached',
      timeout: WAIT,
    });
    await screenshot(bob, 'livekit-two-people');

    await ada.click('#leave');
    await ada.waitForSelector('body[data-phase="ended"]');
    expect(await ada.textContent('#join')).toBe('Rejoin');
    await poll(() => agent.room.remoteParticipants.has(adaP.identity)).toBe(false);
    await ada.click('#join');
    await ada.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
    await ada.waitForSelector('#agent-state[data-state="listening"]', { timeout: WAIT });
    await agent.participantNamed('Ada');
  });

  it('says when the agent does not join in time, and clears it when the agent arrives', async () => {
    const { page: ada } = await page();
    await joinCall(ada, { mode: 'livekit', name: 'Ada', room: 'room-c' });
    await ada.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
    const alert = await ada.waitForSelector('#errors li[data-code="agent-timeout"]', { timeout: WAIT });
    expect(await alert.textContent()).toContain('did not join within 3 s');
    expect(await ada.getAttribute('#agent-state', 'data-state')).toBe('absent');
    await screenshot(ada, 'livekit-agent-timeout');
    const agent = await agentIn('room-c');
    await agent.setState('listening');
    await ada.waitForSelector('#errors li[data-code="agent-timeout"]', {
      state: 'detached',
      timeout: WAIT,
    });
    await ada.waitForSelector('#agent-state[data-state="listening"]', { timeout: WAIT });
  });

  it('push-to-talk rooms get a hold-to-talk control that tells the agent when the user talks', async () => {
    const agent = await agentIn('room-ptt');
    await agent.setState('listening');
    const { page: ada } = await page();
    await joinCall(ada, { mode: 'livekit', name: 'Ada', room: 'room-ptt' });
    await ada.waitForSelector('#agent-state[data-state="listening"]', { timeout: WAIT });
    // An ordinary room has no such control.
    expect(await ada.isHidden('#talk')).toBe(true);
    const calls = await agent.servePushToTalk();
    const talk = await ada.waitForSelector('#talk', { state: 'visible', timeout: WAIT });
    const ident = (await agent.participantNamed('Ada')).identity;
    const until = (n: number) => expect.poll(() => calls.length, { timeout: WAIT }).toBe(n);

    // Held with the mouse: the turn starts on press and ends on release.
    await talk.hover();
    await ada.mouse.down();
    await until(1);
    expect(await talk.getAttribute('aria-pressed')).toBe('true');
    await screenshot(ada, 'livekit-push-to-talk');
    await ada.mouse.up();
    await until(2);
    expect(await talk.getAttribute('aria-pressed')).toBe('false');
    // Held with the keyboard: a held key's repeats start nothing more.
    await talk.focus();
    await ada.keyboard.down(' ');
    await ada.keyboard.down(' ');
    await until(3);
    await ada.keyboard.up(' ');
    await until(4);
    expect(calls).toEqual([`start:${ident}`, `end:${ident}`, `start:${ident}`, `end:${ident}`]);

    // The room stops being push-to-talk: the control goes.
    await agent.room.localParticipant!.setAttributes({ 'lk.agent.push_to_talk': '' });
    await ada.waitForSelector('#talk', { state: 'hidden', timeout: WAIT });
  });

  it('reports being disconnected from the room', async () => {
    const { page: ada } = await page();
    await joinCall(ada, { mode: 'livekit', name: 'Ada', room: 'room-d' });
    await ada.waitForSelector('body[data-phase="connected"]', { timeout: WAIT });
    const rooms = new RoomServiceClient(lk.url.replace(/^ws/, 'http'), lk.apiKey, lk.apiSecret);
    const [participant] = await rooms.listParticipants('room-d');
    await rooms.removeParticipant('room-d', participant!.identity);
    const alert = await ada.waitForSelector('#errors li[data-code="disconnected"]', { timeout: WAIT });
    expect(await alert.textContent()).toContain('PARTICIPANT_REMOVED');
    await ada.waitForSelector('body[data-phase="ended"]');
    await screenshot(ada, 'livekit-disconnected');
  });
});

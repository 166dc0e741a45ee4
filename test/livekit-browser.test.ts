import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { type Participant, type Room, RoomEvent, TrackKind, type TrackPublication } from '@livekit/rtc-node';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveKitDevServer } from '../emulators/livekit/index.ts';
import {
  connectRtc,
  heardFrequency,
  loudFrames,
  mintToken,
  once,
  publishTone,
  publishVideo,
  receiveVideoFrames,
  startServer,
  waitFor,
} from './livekit-helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** In-page helpers: a livekit-client participant publishing an oscillator tone and a canvas. */
const PAGE_SCRIPT = `
/** A 960×540 canvas of changing colour published as a simulcast VP8 camera. */
function publishCanvas(room) {
  const LK = window.LivekitClient;
  const canvas = document.createElement('canvas');
  canvas.width = 960; canvas.height = 540;
  const g = canvas.getContext('2d');
  let n = 0;
  setInterval(() => { g.fillStyle = 'hsl(' + (n++ % 360) + ',80%,50%)'; g.fillRect(0, 0, 960, 540); }, 33);
  const video = new LK.LocalVideoTrack(canvas.captureStream(30).getVideoTracks()[0]);
  return room.localParticipant.publishTrack(video, { source: LK.Track.Source.Camera, simulcast: true, videoCodec: 'vp8' });
}

/** An oscillator tone as a microphone track (the page's AudioContext is kept for lkHear). */
async function toneTrack(freq) {
  const LK = window.LivekitClient;
  const ctx = new AudioContext();
  await ctx.resume();
  window.ctx = ctx;
  const osc = ctx.createOscillator();
  osc.frequency.value = freq;
  const gain = ctx.createGain();
  gain.gain.value = 0.4;
  const dst = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(dst);
  osc.start();
  return new LK.LocalAudioTrack(dst.stream.getAudioTracks()[0], undefined, false, ctx);
}
const MIC = { source: 'microphone', dtx: false, red: false };

window.lkJoin = async (url, token, freq) => {
  const room = new window.LivekitClient.Room({ adaptiveStream: false, dynacast: false });
  window.room = room;
  await room.connect(url, token);
  window.audioPub = await room.localParticipant.publishTrack(await toneTrack(freq), MIC);
  await publishCanvas(room);
  return room.localParticipant.sid;
};

/** Publishes the microphone while the connection is still being set up, as useSession().start() does. */
window.lkJoinPublishing = async (url, token, freq) => {
  const room = new window.LivekitClient.Room({ adaptiveStream: false, dynacast: false });
  window.room = room;
  const audio = await toneTrack(freq);
  const [, pub] = await Promise.all([room.connect(url, token), room.localParticipant.publishTrack(audio, MIC)]);
  return pub.trackSid;
};

/**
 * Makes this page's signal socket as slow as a loaded machine, deterministically: the client's first
 * publisher offer (made at join, before any track has a sender) is held, with every message after it
 * except add_track, until holdMs after the first add_track left. An add_track made before that offer
 * waits for it, so the offer cannot carry the track: the server sees the add_track, then, holdMs
 * later, an offer without its track, as it did when its first negotiation was slow.
 */
window.lkSlowSignal = (holdMs) => {
  window.slowSignal = { heldOffers: 0, heldOfferCarriedAudio: false };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    send(data) {
      const bytes = new Uint8Array(data.buffer ?? data, data.byteOffset ?? 0, data.byteLength);
      // A SignalRequest's first byte is its oneof's tag: offer is field 1, add_track field 4.
      const addTrack = bytes[0] === 0x22;
      if (this.released) return super.send(data);
      if (!this.held) {
        if (addTrack) return void (this.parked ??= []).push(data);
        if (bytes[0] !== 0x0a) return super.send(data);
        window.slowSignal.heldOffers++;
        window.slowSignal.heldOfferCarriedAudio = new TextDecoder().decode(bytes).includes('m=audio');
        this.held = [data];
        for (const d of this.parked?.splice(0) ?? []) this.sendAddTrack(d);
        return;
      }
      if (addTrack) return this.sendAddTrack(data);
      this.held.push(data);
    }
    sendAddTrack(data) {
      super.send(data);
      if (this.releaseTimer) return;
      this.releaseTimer = setTimeout(() => {
        this.released = true;
        for (const d of this.held) if (this.readyState === 1) super.send(d);
      }, holdMs);
    }
  };
};

function remoteTrack(identity, kind) {
  return new Promise((resolve) => {
    const check = () => {
      const p = window.room.remoteParticipants.get(identity);
      for (const pub of p ? p.trackPublications.values() : []) if (pub.kind === kind && pub.track) return resolve(pub.track);
      setTimeout(check, 50);
    };
    check();
  });
}

window.lkHear = async (identity) => {
  const track = await remoteTrack(identity, 'audio');
  const el = track.attach(); // Chrome feeds WebAudio from a remote stream only while a media element plays it
  el.muted = true;
  document.body.appendChild(el);
  const src = window.ctx.createMediaStreamSource(new MediaStream([track.mediaStreamTrack]));
  const analyser = window.ctx.createAnalyser();
  analyser.fftSize = 8192;
  src.connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    if (bins[best] > -60) return (best * window.ctx.sampleRate) / analyser.fftSize;
  }
};

window.lkPublishDynacast = async (url, token) => {
  const room = new window.LivekitClient.Room({ adaptiveStream: false, dynacast: true });
  window.room = room;
  await room.connect(url, token);
  window.published = await publishCanvas(room);
};
window.lkActiveLayers = () =>
  window.published.track.sender.getParameters().encodings.filter((e) => e.active).map((e) => e.rid).join(',');

window.lkWatch = async (identity) => {
  const track = await remoteTrack(identity, 'video');
  const el = track.attach();
  el.muted = true;
  document.body.appendChild(el);
  await el.play().catch(() => {});
  const pub = [...window.room.remoteParticipants.get(identity).trackPublications.values()].find((p) => p.kind === 'video');
  window.watched = { el, pub };
};
window.lkView = () => {
  const el = window.watched.el;
  return { width: el.videoWidth, frames: el.getVideoPlaybackQuality().totalVideoFrames };
};
window.lkSetQuality = (q) => window.watched.pub.setVideoQuality(window.LivekitClient.VideoQuality[q]);
window.lkSetEnabled = (on) => window.watched.pub.setEnabled(on);
window.lkSetSize = (width, height) => window.watched.pub.setVideoDimensions({ width, height });

window.lkSee = async (identity) => {
  const track = await remoteTrack(identity, 'video');
  const el = track.attach();
  el.muted = true;
  document.body.appendChild(el);
  await el.play().catch(() => {});
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const q = el.getVideoPlaybackQuality ? el.getVideoPlaybackQuality().totalVideoFrames : 0;
    if (el.videoWidth > 0 && q >= 10) return { width: el.videoWidth, height: el.videoHeight, frames: q };
  }
};
`;

describe('LiveKit dev server: livekit-client in Chromium with rtc-node', () => {
  let server: LiveKitDevServer;
  let web: Server;
  let browser: Browser;
  let page: Page;
  let node: Room;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    server = await startServer();
    const umd = readFileSync(
      join(dirname(createRequire(import.meta.url).resolve('livekit-client')), 'livekit-client.umd.js'),
    );
    web = createServer((req, res) => {
      if (req.url === '/lk.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(umd);
      else if (req.url === '/page.js')
        res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(PAGE_SCRIPT);
      else
        res
          .writeHead(200, { 'Content-Type': 'text/html' })
          .end(
            '<!doctype html><html><body><script src="/lk.js"></script><script src="/page.js"></script></body></html>',
          );
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--use-fake-device-for-media-stream',
        '--use-fake-ui-for-media-stream',
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
    page = await browser.newPage();
    page.on('console', (m) => {
      // The 404 of /rtc/v1 is expected (v0 fallback); anything else is worth seeing.
      if (m.type() === 'error' && !/rtc\/v1|404/.test(m.text())) console.log('[browser]', m.text());
    });
    await page.goto(`http://127.0.0.1:${(web.address() as AddressInfo).port}/`);
  }, 60_000);

  afterAll(async () => {
    for (const s of stops) s();
    await node?.disconnect().catch(() => {});
    await browser?.close().catch(() => {});
    await new Promise((r) => web?.close(r));
    await server?.close();
  });

  it('a browser and an rtc-node participant hear and see each other', async () => {
    node = await connectRtc(server, 'node', 'mixed');
    stops.push(await publishTone(node, 440));
    stops.push(await publishVideo(node));
    const token = await mintToken(server, 'browser', { room: 'mixed' });
    await page.evaluate(
      ([url, t]) => (window as never as { lkJoin: (...a: unknown[]) => Promise<string> }).lkJoin(url, t, 700),
      [server.url, token],
    );

    const heardByNode = await heardFrequency(node, 'browser', 0.5);
    expect(heardByNode).toBeGreaterThan(670);
    expect(heardByNode).toBeLessThan(730);
    const heardByBrowser = await page.evaluate(() =>
      (window as never as { lkHear: (i: string) => Promise<number> }).lkHear('node'),
    );
    expect(heardByBrowser).toBeGreaterThan(420);
    expect(heardByBrowser).toBeLessThan(460);

    const seenByBrowser = await page.evaluate(() =>
      (window as never as { lkSee: (i: string) => Promise<{ width: number }> }).lkSee('node'),
    );
    expect(seenByBrowser.width).toBe(320);
    const seenByNode = await receiveVideoFrames(node, 'browser', 10);
    expect(seenByNode.frames).toBe(10);
    expect(seenByNode.width).toBeGreaterThan(0);
    // livekit-client sends 960×540 as simulcast layers, q (320×180) first in its rid order, then h
    // (640×360): every layer is forwarded, so a subscriber that asked for nothing gets h, not only q.
    await waitFor(async () => (await receiveVideoFrames(node, 'browser', 5)).width === 640, 'the h layer');
  }, 120_000);

  it('mute and unmute in the browser reach the rtc-node participant', async () => {
    const muted = once<[TrackPublication, Participant]>(
      node as never,
      RoomEvent.TrackMuted,
      (_p, who) => who.identity === 'browser',
    );
    await page.evaluate(() => (window as never as { audioPub: { mute(): Promise<void> } }).audioPub.mute());
    const [pub] = await muted;
    expect(pub.muted).toBe(true);
    const unmuted = once<[TrackPublication, Participant]>(
      node as never,
      RoomEvent.TrackUnmuted,
      (_p, who) => who.identity === 'browser',
    );
    await page.evaluate(() =>
      (window as never as { audioPub: { unmute(): Promise<void> } }).audioPub.unmute(),
    );
    await unmuted;
    expect(pub.muted).toBe(false);
  }, 60_000);

  it('the browser’s subscription permissions decide who receives its tracks', async () => {
    type W = {
      room: {
        localParticipant: {
          setTrackSubscriptionPermissions(
            all: boolean,
            p?: { participantIdentity: string; allowAll: boolean }[],
          ): void;
        };
      };
    };
    const browserAudio = (r: Room) =>
      [...(r.remoteParticipants.get('browser')?.trackPublications.values() ?? [])].find(
        (p) => p.kind === TrackKind.KIND_AUDIO,
      );
    await page.evaluate(() =>
      (window as never as W).room.localParticipant.setTrackSubscriptionPermissions(false, [
        { participantIdentity: 'friend', allowAll: true },
      ]),
    );
    // Subscribed before the change: its media stops (rtc-node keeps the track object, now silent).
    await waitFor(
      async () => (await loudFrames(browserAudio(node)?.track)) === 0,
      "the browser's audio stops at node",
    );
    const friend = await connectRtc(server, 'friend', 'mixed');
    const stranger = await connectRtc(server, 'stranger', 'mixed');
    try {
      const heard = await heardFrequency(friend, 'browser', 0.5);
      expect(heard).toBeGreaterThan(670);
      expect(heard).toBeLessThan(730);
      // The stranger sees the publication listed, and never gets its media.
      await waitFor(() => browserAudio(stranger), 'the publication listed for the stranger');
      await new Promise((r) => setTimeout(r, 1500));
      expect(browserAudio(stranger)?.track).toBeUndefined();
      // Everyone allowed again: the stranger (auto-subscribe) gets it.
      await page.evaluate(() =>
        (window as never as W).room.localParticipant.setTrackSubscriptionPermissions(true),
      );
      const late = await heardFrequency(stranger, 'browser', 0.5);
      expect(late).toBeGreaterThan(670);
      expect(late).toBeLessThan(730);
    } finally {
      await friend.disconnect();
      await stranger.disconnect();
    }
  }, 90_000);

  it('each subscriber gets the simulcast layer it asks for, and can pause it', async () => {
    type Page = {
      lkWatch: (i: string) => Promise<void>;
      lkView: () => { width: number; frames: number };
      lkSetQuality: (q: string) => void;
      lkSetEnabled: (on: boolean) => void;
      lkSetSize: (w: number, h: number) => void;
    };
    const cam = await connectRtc(server, 'cam', 'mixed');
    stops.push(await publishVideo(cam, { width: 640, height: 480, simulcast: true }));
    await page.evaluate(() => (window as never as Page).lkWatch('cam'));
    const view = () => page.evaluate(() => (window as never as Page).lkView());
    const setQuality = (q: string) => page.evaluate((q) => (window as never as Page).lkSetQuality(q), q);
    const setEnabled = (on: boolean) => page.evaluate((on) => (window as never as Page).lkSetEnabled(on), on);
    // rtc-node sends two layers of 640×480 here: q (LOW, 480×360) and h (MEDIUM, full size).
    await waitFor(async () => (await view()).width === 640, 'the full-size layer in the browser');

    await setQuality('LOW');
    await waitFor(async () => (await view()).width === 480, 'the low layer in the browser');
    // Per subscriber: another one that asked for nothing still gets the full-size layer.
    const other = await connectRtc(server, 'other', 'mixed');
    try {
      await waitFor(
        async () => (await receiveVideoFrames(other, 'cam', 5)).width === 640,
        'full size for rtc-node',
      );
    } finally {
      await other.disconnect();
    }
    await setQuality('HIGH');
    await waitFor(async () => (await view()).width === 640, 'the full-size layer again');
    // By rendered size (what adaptive stream sends): the smallest layer that covers it.
    await page.evaluate(() => (window as never as Page).lkSetSize(400, 300));
    await waitFor(async () => (await view()).width === 480, 'the layer covering 400×300');

    // Paused (what adaptive stream does for hidden video): nothing is forwarded to it; resumed: it is.
    await setEnabled(false);
    await new Promise((r) => setTimeout(r, 1500));
    const paused = (await view()).frames;
    await new Promise((r) => setTimeout(r, 2000));
    expect((await view()).frames - paused).toBeLessThanOrEqual(1);
    await setEnabled(true);
    await waitFor(async () => (await view()).frames >= paused + 15, 'frames after resuming');
    await cam.disconnect();
  }, 120_000);

  it('dynacast: a browser publisher encodes only the layers its subscribers want', async () => {
    type DynPage = {
      lkPublishDynacast: (url: string, token: string) => Promise<void>;
      lkActiveLayers: () => string;
      lkJoin: (url: string, token: string, freq: number) => Promise<string>;
      lkWatch: (i: string) => Promise<void>;
      lkView: () => { width: number; frames: number };
      lkSetQuality: (q: string) => void;
    };
    const origin = page.url();
    const publisher = await browser.newPage();
    const viewer = await browser.newPage();
    try {
      await Promise.all([publisher.goto(origin), viewer.goto(origin)]);
      const pubToken = await mintToken(server, 'dyn-pub', { room: 'dynacast' });
      await publisher.evaluate(
        ([url, t]) => (window as never as DynPage).lkPublishDynacast(url!, t!),
        [server.url, pubToken],
      );
      const active = () => publisher.evaluate(() => (window as never as DynPage).lkActiveLayers());
      const viewToken = await mintToken(server, 'dyn-view', { room: 'dynacast' });
      await viewer.evaluate(
        ([url, t]) => (window as never as DynPage).lkJoin(url!, t!, 500),
        [server.url, viewToken],
      );
      await viewer.evaluate(() => (window as never as DynPage).lkWatch('dyn-pub'));
      const view = () => viewer.evaluate(() => (window as never as DynPage).lkView());
      // 960×540 is announced as q (320×180), h (640×360) and f (960×540). The one subscriber asked
      // for nothing and gets h: f is switched off at the publisher.
      await waitFor(async () => (await view()).width === 640, 'the h layer at the viewer');
      await waitFor(async () => (await active()) === 'q,h', 'f switched off at the publisher');
      // It wants LOW: h goes off too. HIGH: every layer comes back, and it gets f.
      await viewer.evaluate(() => (window as never as DynPage).lkSetQuality('LOW'));
      await waitFor(async () => (await active()) === 'q', 'h switched off at the publisher');
      await waitFor(async () => (await view()).width === 320, 'the q layer at the viewer');
      await viewer.evaluate(() => (window as never as DynPage).lkSetQuality('HIGH'));
      await waitFor(async () => (await active()) === 'q,h,f', 'h and f switched on again');
      await waitFor(async () => (await view()).width === 960, 'the f layer at the viewer');
    } finally {
      await publisher.close();
      await viewer.close();
    }
  }, 120_000);

  it('a microphone published during a slow join is kept until an offer carries it', async () => {
    // The issue: useSession().start() publishes the microphone while connecting; on a loaded machine
    // the server saw an offer without that track more than 5 s after its add_track and withdrew it.
    type W = {
      lkSlowSignal: (ms: number) => void;
      lkJoinPublishing: (url: string, token: string, freq: number) => Promise<string>;
      slowSignal: { heldOffers: number; heldOfferCarriedAudio: boolean };
    };
    const listener = await connectRtc(server, 'listener', 'slow-join');
    const slow = await browser.newPage();
    try {
      await slow.goto(page.url());
      await slow.evaluate((ms) => (window as never as W).lkSlowSignal(ms), 6000);
      const token = await mintToken(server, 'slow', { room: 'slow-join' });
      const trackSid = await slow.evaluate(
        ([url, t]) => (window as never as W).lkJoinPublishing(url!, t!, 600),
        [server.url, token],
      );
      // The reproduction took place: an offer without the track reached the server after its add_track.
      expect(await slow.evaluate(() => (window as never as W).slowSignal)).toEqual({
        heldOffers: 1,
        heldOfferCarriedAudio: false,
      });
      const heard = await heardFrequency(listener, 'slow', 0.5);
      expect(heard).toBeGreaterThan(570);
      expect(heard).toBeLessThan(630);
      const pubs = [...(listener.remoteParticipants.get('slow')?.trackPublications.values() ?? [])];
      expect(pubs.map((p) => p.sid)).toEqual([trackSid]);
    } finally {
      await slow.close();
      await listener.disconnect();
    }
  }, 90_000);

  it('the browser sees the rtc-node participant leave', async () => {
    type W = { room: { remoteParticipants: Map<string, unknown> } };
    expect(await page.evaluate(() => (window as never as W).room.remoteParticipants.has('node'))).toBe(true);
    await node.disconnect();
    await page.waitForFunction(() => !(window as never as W).room.remoteParticipants.has('node'), undefined, {
      timeout: 30_000,
    });
  }, 60_000);
});

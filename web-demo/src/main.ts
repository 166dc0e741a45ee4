import './style.css';
import type { AgentState, Call, CallError, CallErrorCode, CallStatus } from './call.ts';
import { type DemoConfig, loadConfig } from './config.ts';
import { LightView } from './light.ts';
import { TranscriptView } from './transcript.ts';
import { Visualiser } from './visualiser.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const ui = {
  status: $<HTMLParagraphElement>('status'),
  errors: $<HTMLUListElement>('errors'),
  joinPanel: $<HTMLElement>('join-panel'),
  joinForm: $<HTMLFormElement>('join-form'),
  modeDirect: $<HTMLInputElement>('mode-direct'),
  directUnavailable: $<HTMLParagraphElement>('direct-unavailable'),
  join: $<HTMLButtonElement>('join'),
  name: $<HTMLInputElement>('name'),
  room: $<HTMLInputElement>('room'),
  callPanel: $<HTMLElement>('call-panel'),
  agentState: $<HTMLElement>('agent-state'),
  visualiser: $<HTMLCanvasElement>('visualiser'),
  light: $<HTMLElement>('light'),
  talk: $<HTMLButtonElement>('talk'),
  mic: $<HTMLButtonElement>('mic'),
  camera: $<HTMLButtonElement>('camera'),
  screen: $<HTMLButtonElement>('screen'),
  startAudio: $<HTMLButtonElement>('start-audio'),
  leave: $<HTMLButtonElement>('leave'),
  videos: $<HTMLDivElement>('videos'),
  transcript: $<HTMLOListElement>('transcript'),
  chatForm: $<HTMLFormElement>('chat-form'),
  chatInput: $<HTMLInputElement>('chat-input'),
  audioSink: $<HTMLDivElement>('audio-sink'),
};

const AGENT_LABEL: Record<AgentState, string> = {
  absent: 'not here yet',
  initializing: 'joining…',
  idle: 'idle',
  listening: 'listening',
  thinking: 'thinking…',
  speaking: 'speaking',
  failed: 'not working',
};

const STATUS_LABEL: Record<CallStatus, string> = {
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Connection lost — reconnecting…',
  ended: 'Not connected',
};

let config: DemoConfig | null = null;
let call: Call | null = null;
let audioContext: AudioContext | null = null;
const visualiser = new Visualiser(ui.visualiser);
const light = new LightView(ui.light);

function setPhase(phase: string, status: string): void {
  document.body.dataset.phase = phase;
  ui.status.textContent = status;
}

function showError(code: CallErrorCode | 'config', message: string): void {
  ui.errors.querySelector(`li[data-code="${code}"]`)?.remove();
  const li = document.createElement('li');
  li.setAttribute('role', 'alert');
  li.dataset.code = code;
  const text = document.createElement('span');
  text.textContent = message;
  const dismiss = document.createElement('button');
  dismiss.type = 'button';
  dismiss.textContent = 'Dismiss';
  dismiss.setAttribute('aria-label', `Dismiss: ${message}`);
  dismiss.addEventListener('click', () => li.remove());
  li.append(text, dismiss);
  ui.errors.append(li);
}

function clearError(code: CallErrorCode): void {
  ui.errors.querySelector(`li[data-code="${code}"]`)?.remove();
}

function setPressed(button: HTMLButtonElement, on: boolean): void {
  button.setAttribute('aria-pressed', String(on));
}

function showVideo(key: string, label: string, video: HTMLVideoElement | null): void {
  const existing = ui.videos.querySelector<HTMLElement>(`figure[data-key="${CSS.escape(key)}"]`);
  existing?.remove();
  if (!video) return;
  const figure = document.createElement('figure');
  figure.dataset.key = key;
  video.playsInline = true;
  video.autoplay = true;
  const caption = document.createElement('figcaption');
  caption.textContent = label;
  figure.append(video, caption);
  ui.videos.append(figure);
}

async function join(ev: SubmitEvent): Promise<void> {
  ev.preventDefault();
  if (!config || call) return;
  const form = new FormData(ui.joinForm);
  const mode = form.get('mode') === 'direct' ? 'direct' : 'livekit';
  const name = String(form.get('name') ?? '').trim();
  const room = String(form.get('room') ?? '').trim();
  ui.errors.replaceChildren();
  ui.join.disabled = true;

  // Created inside the click so browsers let it play (autoplay policies).
  audioContext ??= new AudioContext({ latencyHint: 'interactive' });
  void audioContext.resume();

  const current: Call =
    mode === 'direct'
      ? new (await import('./direct-call.ts')).DirectCall({ config, audioContext })
      : new (await import('./livekit-call.ts')).LiveKitCall({
          config,
          audioContext,
          audioSink: ui.audioSink,
        });
  call = current;
  document.body.dataset.mode = mode;
  const transcriptView = new TranscriptView(ui.transcript, current.transcript);
  transcriptView.clear();
  ui.videos.replaceChildren();
  light.set({ on: false });
  setAgentState('absent');

  let wasConnected = false;
  current.on('status', (status) => {
    if (call !== current) return;
    if (status === 'connected') wasConnected = true;
    setPhase(status, STATUS_LABEL[status]);
    const inCall = status !== 'ended';
    ui.callPanel.hidden = !inCall;
    ui.joinPanel.hidden = inCall;
    if (!inCall) {
      call = null;
      ui.talk.hidden = true;
      setPressed(ui.talk, false);
      visualiser.detach();
      ui.join.disabled = false;
      ui.join.textContent = wasConnected ? 'Rejoin' : 'Join';
      ui.join.focus();
    }
  });
  current.on('agentState', (state) => setAgentState(state));
  current.on('agentAudio', (...args) => {
    if (args[0]) visualiser.attach(args[0], args[1]);
    else visualiser.detach();
  });
  current.on('light', (state) => light.set(state));
  current.on('error', (err: CallError) => {
    console.warn(`[${err.code}]`, err.message, err.cause ?? '');
    showError(err.code, err.message);
    if (err.code === 'audio-blocked') ui.startAudio.hidden = false;
  });
  current.on('errorCleared', (code) => {
    clearError(code);
    if (code === 'audio-blocked') ui.startAudio.hidden = true;
  });
  current.on('media', (m) => {
    setPressed(ui.mic, m.mic);
    setPressed(ui.camera, m.camera);
    setPressed(ui.screen, m.screen);
  });
  current.on('video', (key, label, el) => showVideo(key, label, el));
  current.on('pushToTalk', (on) => {
    if (!on) holdToTalk(false);
    ui.talk.hidden = !on;
  });

  try {
    await current.start({ name, room });
  } catch (err) {
    const e = err as CallError;
    showError(e.code ?? 'connect-failed', e.message ?? String(err));
    if (e.code === 'direct-unavailable') directUnavailable(e.message);
    await current.leave();
  }
}

/** The token server has no ephemeral tokens (Gemini on Vertex AI): offer room mode only, and say why. */
function directUnavailable(reason: string): void {
  ui.modeDirect.checked = false;
  ui.modeDirect.disabled = true;
  ui.joinForm.querySelector<HTMLInputElement>('input[value="livekit"]')!.checked = true;
  ui.directUnavailable.textContent = reason;
  ui.directUnavailable.hidden = false;
}

/** Push-to-talk: the talk control went down (`true`) or up; each change reaches the agent once. */
function holdToTalk(on: boolean): void {
  if ((ui.talk.getAttribute('aria-pressed') === 'true') === on) return;
  setPressed(ui.talk, on);
  void call?.talk?.(on);
}

function setAgentState(state: AgentState): void {
  ui.agentState.dataset.state = state;
  ui.agentState.textContent = AGENT_LABEL[state];
}

async function toggle(button: HTMLButtonElement, action: (on: boolean) => Promise<void>): Promise<void> {
  const on = button.getAttribute('aria-pressed') !== 'true';
  button.disabled = true;
  try {
    await action(on);
  } finally {
    button.disabled = false;
  }
}

ui.joinForm.addEventListener('submit', (ev) => void join(ev));
ui.mic.addEventListener(
  'click',
  () => void toggle(ui.mic, (on) => call?.setMicrophone(on) ?? Promise.resolve()),
);
ui.camera.addEventListener(
  'click',
  () => void toggle(ui.camera, (on) => call?.setCamera(on) ?? Promise.resolve()),
);
ui.screen.addEventListener(
  'click',
  () => void toggle(ui.screen, (on) => call?.setScreenShare(on) ?? Promise.resolve()),
);
ui.talk.addEventListener('pointerdown', (ev) => {
  // Captured, so releasing outside the button still ends the turn.
  ui.talk.setPointerCapture(ev.pointerId);
  holdToTalk(true);
});
for (const end of ['pointerup', 'pointercancel', 'blur'] as const) {
  ui.talk.addEventListener(end, () => holdToTalk(false));
}
ui.talk.addEventListener('keydown', (ev) => {
  if (ev.key !== ' ' && ev.key !== 'Enter') return;
  ev.preventDefault();
  if (!ev.repeat) holdToTalk(true);
});
ui.talk.addEventListener('keyup', (ev) => {
  if (ev.key !== ' ' && ev.key !== 'Enter') return;
  ev.preventDefault();
  holdToTalk(false);
});
ui.leave.addEventListener('click', () => void call?.leave());
ui.startAudio.addEventListener('click', () => {
  void audioContext?.resume();
  for (const el of ui.audioSink.querySelectorAll('audio')) void el.play().catch(() => {});
  ui.startAudio.hidden = true;
  clearError('audio-blocked');
});
ui.chatForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const text = ui.chatInput.value.trim();
  if (!text || !call) return;
  ui.chatInput.value = '';
  call
    .sendChat(text)
    .catch((err: unknown) => showError('connect-failed', `Message not sent: ${String(err)}`));
});
window.addEventListener('pagehide', () => void call?.leave());

// Prefill from the address (?room=…&name=…&mode=direct) so a room link can be shared.
const params = new URLSearchParams(location.search);
ui.name.value = params.get('name') ?? `Guest ${Math.floor(1000 + Math.random() * 9000)}`;
ui.room.value = params.get('room') ?? ui.room.value;
if (params.get('mode') === 'direct') {
  ui.joinForm.querySelector<HTMLInputElement>('input[value="direct"]')!.checked = true;
}

loadConfig()
  .then((c) => {
    config = c;
    ui.join.disabled = false;
    setPhase('idle', 'Not connected');
  })
  .catch((err: unknown) => {
    setPhase('error', 'Unavailable');
    showError('config', `The page is misconfigured: ${err instanceof Error ? err.message : String(err)}`);
  });

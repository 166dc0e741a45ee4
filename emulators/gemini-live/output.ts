/**
 * Model output of a turn: text parts (TEXT modality) or audio chunks paced at the configured
 * generation speed, with output transcription spread over the audio and first-byte bookkeeping.
 */
import { setImmediate as nextTick, setTimeout as sleep } from 'node:timers/promises';
import { pcm16ToBase64, pcmMimeType } from '../../shared/audio/pcm.ts';
import { textTokens } from './conversation.ts';
import type { ActiveTurn, SessionCore } from './session-core.ts';
import { now } from './stats.ts';

/** Speaks `text` (the model's voice unless `audio` is given) or writes it in TEXT modality. */
export async function speak(
  core: SessionCore,
  turn: ActiveTurn,
  text: string,
  audio: Int16Array | undefined,
  signal: AbortSignal,
): Promise<void> {
  const { cfg, stats } = core;
  const words = text.split(/(?<=\s)/).filter((w) => w.length > 0);
  turn.spoken.push(text);
  if (cfg.textOutput) {
    turn.responseTokens += textTokens(text);
    for (let i = 0; i < words.length; i += 4) {
      if (i > 0) await nextTick(undefined, { signal });
      firstByte(core, turn);
      core.send({ serverContent: { modelTurn: { parts: [{ text: words.slice(i, i + 4).join('') }] } } });
    }
    return;
  }
  const rate = cfg.profile.outputRate;
  const samples = audio ?? cfg.profile.speak(text, cfg.voice);
  const { chunkMs, pacing } = core.ctx.options;
  const size = Math.round((rate * chunkMs) / 1000);
  const chunks = Math.max(1, Math.ceil(samples.length / size));
  const speed = pacing === 'realtime' ? 1 : pacing;
  const start = now();
  let word = 0;
  turn.responseTokens += Math.ceil((samples.length / rate) * cfg.profile.spec.tokens.audioPerSecond);
  for (let i = 0; i < chunks; i++) {
    if (i > 0) {
      const due = start + (i * chunkMs) / speed - now();
      if (Number.isFinite(speed) && due > 1) await sleep(due, undefined, { signal });
      else await nextTick(undefined, { signal });
    }
    const part = samples.subarray(i * size, (i + 1) * size);
    firstByte(core, turn);
    const modelTurn = {
      parts: [{ inlineData: { mimeType: pcmMimeType(rate), data: pcm16ToBase64(part) } }],
    };
    // Transcript pieces are spread over the audio, as the service streams them alongside: in the same
    // message on models whose messages carry several parts (3.x), in the next one before.
    const until = Math.ceil(((i + 1) / chunks) * words.length);
    const transcript =
      cfg.outputTranscription && until > word ? { text: words.slice(word, until).join('') } : undefined;
    word = Math.max(word, until);
    if (transcript && cfg.profile.spec.multiPartMessages) {
      core.send({ serverContent: { modelTurn, outputTranscription: transcript } });
    } else {
      core.send({ serverContent: { modelTurn } });
      if (transcript) core.send({ serverContent: { outputTranscription: transcript } });
    }
    stats.audioOutChunks++;
    stats.audioOutSeconds += part.length / rate;
    turn.playbackEnd = Math.max(turn.playbackEnd, now()) + (part.length / rate) * 1000;
  }
}

/** Marks the turn as generating and records its first response byte. */
export function firstByte(core: SessionCore, turn: ActiveTurn): void {
  turn.generated = true;
  if (turn.record.firstResponseAt === undefined) {
    turn.record.firstResponseAt = now();
    core.stats.firstResponseBytes.push(turn.record.firstResponseAt);
  }
}

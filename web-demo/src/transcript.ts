import { Emitter } from './emitter.ts';

/** Who said something, as shown in the transcript. */
export interface Speaker {
  identity: string;
  name: string;
  /** `agent` for the AI participant, `self` for this page's user, `user` for other people. */
  role: 'agent' | 'self' | 'user';
}

export interface TranscriptEntry {
  /** Stable key: one entry per spoken segment or chat message. */
  id: string;
  speaker: Speaker;
  kind: 'speech' | 'chat';
  text: string;
  final: boolean;
}

/**
 * The shared conversation: segments keyed by id, in the order they were first heard. Both modes feed
 * it (LiveKit text streams, Gemini transcriptions), so the view is the same whichever mode runs.
 */
export class Transcript extends Emitter<{ update: [TranscriptEntry] }> {
  #entries = new Map<string, TranscriptEntry>();

  get entries(): TranscriptEntry[] {
    return [...this.#entries.values()];
  }

  /** Sets an entry's whole text (a newer version of the same segment replaces the older one). */
  set(
    id: string,
    speaker: Speaker,
    text: string,
    final: boolean,
    kind: TranscriptEntry['kind'] = 'speech',
  ): void {
    const entry = this.#entries.get(id) ?? { id, speaker, kind, text: '', final: false };
    // A final segment is not reopened by a late interim update that arrives out of order.
    if (entry.final && !final) return;
    entry.speaker = speaker;
    entry.text = text;
    entry.final = final;
    this.#entries.set(id, entry);
    this.emit('update', entry);
  }

  /** Appends a delta to an entry (creating it), e.g. a streamed model transcription. */
  append(id: string, speaker: Speaker, delta: string): void {
    const entry = this.#entries.get(id);
    this.set(id, speaker, (entry?.text ?? '') + delta, false, entry?.kind);
  }

  finalize(id: string): void {
    const entry = this.#entries.get(id);
    if (!entry || entry.final) return;
    entry.final = true;
    this.emit('update', entry);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** Renders a {@link Transcript} into an ordered list, one `<li>` per entry, updated in place. */
export class TranscriptView {
  #list: HTMLOListElement;
  #items = new Map<string, HTMLLIElement>();

  constructor(list: HTMLOListElement, transcript: Transcript) {
    this.#list = list;
    transcript.on('update', (entry) => this.#render(entry));
  }

  clear(): void {
    this.#items.clear();
    this.#list.replaceChildren();
  }

  #render(entry: TranscriptEntry): void {
    let li = this.#items.get(entry.id);
    if (!li) {
      li = document.createElement('li');
      const name = document.createElement('span');
      name.className = 'speaker';
      const text = document.createElement('span');
      text.className = 'text';
      li.append(name, text);
      this.#items.set(entry.id, li);
      const stick = this.#list.scrollTop + this.#list.clientHeight >= this.#list.scrollHeight - 8;
      this.#list.append(li);
      if (stick) this.#list.scrollTop = this.#list.scrollHeight;
    }
    li.dataset.role = entry.speaker.role;
    li.dataset.identity = entry.speaker.identity;
    li.dataset.kind = entry.kind;
    li.dataset.final = String(entry.final);
    li.querySelector('.speaker')!.textContent = entry.speaker.name;
    li.querySelector('.text')!.textContent = entry.text;
  }
}

import type { UseSessionMessagesReturn } from '@livekit/components-react';
import { useState } from 'react';

/** Sends `lk.chat` text (the agent answers it like speech). */
export function ChatInput({ send, isSending }: Pick<UseSessionMessagesReturn, 'send' | 'isSending'>) {
  const [text, setText] = useState('');
  return (
    <form
      className="chat"
      onSubmit={async (e) => {
        e.preventDefault();
        const message = text.trim();
        if (!message) return;
        setText('');
        await send(message);
      }}
    >
      <input
        aria-label="Message"
        placeholder="Type a message"
        value={text}
        onChange={(e) => setText(e.target.value)}
        data-testid="chat-input"
      />
      <button
        type="submit"
        className="lk-button"
        disabled={isSending || !text.trim()}
        data-testid="chat-send"
      >
        Send
      </button>
    </form>
  );
}

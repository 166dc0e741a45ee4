import type { JoinChoices } from '../app-config.ts';

export interface WelcomeProps {
  choices: JoinChoices;
  onChange: (c: JoinChoices) => void;
  onStart: () => void;
  /** Why the last start failed (token refused, microphone denied, server unreachable). */
  error: string | null;
}

/** The join form. Choices are state of the session hook, so a click starts with what is typed. */
export function Welcome({ choices, onChange, onStart, error }: WelcomeProps) {
  return (
    <section className="welcome" data-testid="welcome">
      <h1>Talk to Gemini</h1>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          onStart();
        }}
      >
        <label>
          Your name
          <input
            name="name"
            value={choices.name}
            autoComplete="name"
            onChange={(e) => onChange({ ...choices, name: e.target.value })}
          />
        </label>
        <label>
          Room <small>(empty: a new one)</small>
          <input
            name="room"
            value={choices.room}
            onChange={(e) => onChange({ ...choices, room: e.target.value })}
          />
        </label>
        <button type="submit" className="lk-button primary" data-testid="start">
          Start conversation
        </button>
      </form>
      {error && (
        <p role="alert" className="error" data-testid="start-error">
          {error}
        </p>
      )}
    </section>
  );
}

/** The example client-side tool: a light the agent switches through the `set_light` RPC / function. */
export interface LightState {
  on: boolean;
  /** CSS colour; absent keeps the previous colour. */
  color?: string;
}

export const SET_LIGHT = 'set_light';

/** Function declaration for the Live API (direct mode), mirroring the agent's tool. */
export const setLightDeclaration = {
  name: SET_LIGHT,
  description: "Switch the user's light on or off, optionally setting its colour.",
  parametersJsonSchema: {
    type: 'object',
    properties: {
      on: { type: 'boolean', description: 'true to switch the light on, false to switch it off' },
      color: { type: 'string', description: 'CSS colour name or #rrggbb, e.g. "red" or "#ffaa00"' },
    },
    required: ['on'],
  },
};

const COLOR = /^(#[0-9a-f]{3,8}|[a-z]{3,30})$/i;

/** Validates a `set_light` argument object; throws a message fit to send back to the caller. */
export function parseLight(args: unknown): LightState {
  if (typeof args !== 'object' || args === null) throw new Error('expected an object {on, color?}');
  const { on, color } = args as Record<string, unknown>;
  if (typeof on !== 'boolean') throw new Error('"on" must be a boolean');
  if (color === undefined || color === null || color === '') return { on };
  if (typeof color !== 'string' || !COLOR.test(color))
    throw new Error('"color" must be a colour name or #hex');
  return { on, color: color.toLowerCase() };
}

/** Shows the light: `data-on` / `--light-color` for styling and a spoken label for screen readers. */
export class LightView {
  #el: HTMLElement;
  #color = '#ffd34d';

  constructor(el: HTMLElement) {
    this.#el = el;
    this.set({ on: false });
  }

  set(state: LightState): void {
    if (state.color) this.#color = state.color;
    this.#el.dataset.on = String(state.on);
    this.#el.dataset.color = this.#color;
    this.#el.style.setProperty('--light-color', this.#color);
    this.#el.setAttribute('aria-label', state.on ? `Light on (${this.#color})` : 'Light off');
  }
}

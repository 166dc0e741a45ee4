import { z } from 'zod';
import { defineTool } from '../api/index.ts';

// A Map, not an object literal: the key is a model-supplied city name, and "constructor" or
// "__proto__" would find inherited members of an object.
const CITIES = new Map<string, { c: number; sky: string; humidity: number }>([
  ['london', { c: 14, sky: 'light rain', humidity: 81 }],
  ['paris', { c: 17, sky: 'partly cloudy', humidity: 64 }],
  ['berlin', { c: 12, sky: 'overcast', humidity: 70 }],
  ['new york', { c: 19, sky: 'sunny', humidity: 55 }],
  ['tokyo', { c: 22, sky: 'clear', humidity: 60 }],
  ['sydney', { c: 24, sky: 'sunny', humidity: 50 }],
  ['san francisco', { c: 16, sky: 'fog', humidity: 85 }],
  ['zurich', { c: 10, sky: 'snow showers', humidity: 78 }],
]);

/** Offline weather: a fixed table, and a stable made-up forecast for other places (no network). */
export const weatherTool = defineTool({
  name: 'get_weather',
  description: 'Current weather for a city. Use it when someone asks about the weather.',
  parameters: z.object({
    city: z.string().min(1).describe('City name, e.g. "Paris"'),
    unit: z.enum(['celsius', 'fahrenheit']).optional().describe('Temperature unit, celsius by default'),
  }),
  async execute({ city, unit }) {
    const key = city.trim().toLowerCase();
    let w = CITIES.get(key);
    if (!w) {
      let h = 0;
      for (const ch of key) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
      const skies = ['sunny', 'cloudy', 'light rain', 'windy', 'clear'];
      w = { c: (h % 30) - 2, sky: skies[h % skies.length]!, humidity: 40 + (h % 50) };
    }
    const temperature = unit === 'fahrenheit' ? Math.round((w.c * 9) / 5 + 32) : w.c;
    return { city, temperature, unit: unit ?? 'celsius', conditions: w.sky, humidity: w.humidity };
  },
});

/** RPC method the web demo registers for its light. */
export const SET_LIGHT_METHOD = 'set_light';

/**
 * Client-side tool: switches the light the web demo shows, through the `set_light` RPC method of the
 * participant who asked (else the first participant in the room). Payload `{on, color?}`.
 */
export const setLightTool = defineTool({
  name: 'set_light',
  description: "Turns the light in the user's app on or off and optionally sets its colour.",
  parameters: z.object({
    on: z.boolean().describe('true to switch the light on, false to switch it off'),
    color: z
      .string()
      .regex(/^(#[0-9a-fA-F]{6}|[a-z]+)$/, 'a CSS colour name or #rrggbb')
      .optional()
      .describe('CSS colour name or #rrggbb'),
  }),
  timeoutMs: 10_000,
  async execute({ on, color }, ctx) {
    if (!ctx.performRpc) throw new Error('no room connection for client-side tools');
    const target = ctx.participantIdentity ?? ctx.participants?.()[0];
    if (!target) throw new Error('nobody in the room has a light');
    const payload = JSON.stringify(color === undefined ? { on } : { on, color });
    const reply = await ctx.performRpc({
      destinationIdentity: target,
      method: SET_LIGHT_METHOD,
      payload,
      responseTimeoutMs: 8000,
    });
    let parsed: unknown = reply;
    try {
      parsed = JSON.parse(reply);
    } catch {
      // A plain-text reply is fine too.
    }
    return { ok: true, participant: target, reply: parsed };
  },
});

/** Every example tool, for the default registry. */
export const exampleTools = [weatherTool, setLightTool];

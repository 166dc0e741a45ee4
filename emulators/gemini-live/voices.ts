/** The 30 prebuilt voices of the native-audio Live models. */
export const VOICES: readonly string[] = [
  'Zephyr',
  'Puck',
  'Charon',
  'Kore',
  'Fenrir',
  'Leda',
  'Orus',
  'Aoede',
  'Callirrhoe',
  'Autonoe',
  'Enceladus',
  'Iapetus',
  'Umbriel',
  'Algieba',
  'Despina',
  'Erinome',
  'Algenib',
  'Rasalgethi',
  'Laomedeia',
  'Achernar',
  'Alnilam',
  'Schedar',
  'Gacrux',
  'Pulcherrima',
  'Achird',
  'Zubenelgenubi',
  'Vindemiatrix',
  'Sadachbia',
  'Sadaltager',
  'Sulafat',
];

export const DEFAULT_VOICE = 'Puck';

/**
 * Pitch of a voice's synthetic speech: a stable value in 100–240 Hz derived from its name, so tests can
 * tell voices apart by frequency.
 */
export function voicePitch(voice: string): number {
  const index = VOICES.findIndex((v) => v.toLowerCase() === voice.toLowerCase());
  const i = Math.max(index, 0);
  return 100 + ((i * 37) % 141);
}

/**
 * The Live API's audio rates (PCM16 mono): microphone input is taken at 16 kHz natively (other declared
 * rates are resampled by the service), the model speaks at 24 kHz.
 */
export const LIVE_INPUT_RATE = 16_000;
/** Sample rate of the model's audio output. */
export const LIVE_OUTPUT_RATE = 24_000;

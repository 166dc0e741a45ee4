/**
 * Wire schemas of the BidiGenerateContent protocol (client → server) and builders for server messages.
 * Validation errors become close 1007 with a readable reason, like the service's "Invalid JSON payload".
 * Nested objects are loose (unknown nested fields are ignored); the message envelope and `setup` are
 * strict, so misspelt top-level fields fail loudly as they do against Google.
 */
import { z } from 'zod';

const blob = z.looseObject({ data: z.string(), mimeType: z.string() });
const int = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/).transform(Number)]);

const part = z.looseObject({
  text: z.string().optional(),
  inlineData: blob.optional(),
  functionCall: z.looseObject({}).optional(),
  functionResponse: z.looseObject({}).optional(),
});
export const contentSchema = z.looseObject({
  role: z.string().optional(),
  parts: z.array(part).optional(),
});

const functionDeclaration = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  behavior: z.enum(['UNSPECIFIED', 'BLOCKING', 'NON_BLOCKING']).optional(),
});

const toolsSchema = z.array(z.looseObject({ functionDeclarations: z.array(functionDeclaration).optional() }));

export const setupSchema = z.strictObject({
  model: z.string().min(1),
  generationConfig: z
    .looseObject({
      responseModalities: z
        .array(z.enum(['MODALITY_UNSPECIFIED', 'TEXT', 'IMAGE', 'AUDIO', 'VIDEO']))
        .optional(),
      speechConfig: z
        .looseObject({
          voiceConfig: z
            .looseObject({ prebuiltVoiceConfig: z.looseObject({ voiceName: z.string() }).optional() })
            .optional(),
          languageCode: z.string().optional(),
        })
        .optional(),
      temperature: z.number().optional(),
      topP: z.number().optional(),
      topK: z.number().optional(),
      maxOutputTokens: z.number().optional(),
      seed: z.number().optional(),
      mediaResolution: z.string().optional(),
    })
    .optional(),
  systemInstruction: contentSchema.optional(),
  tools: toolsSchema.optional(),
  realtimeInputConfig: z
    .looseObject({
      automaticActivityDetection: z
        .looseObject({
          disabled: z.boolean().optional(),
          startOfSpeechSensitivity: z
            .enum(['START_SENSITIVITY_UNSPECIFIED', 'START_SENSITIVITY_HIGH', 'START_SENSITIVITY_LOW'])
            .optional(),
          endOfSpeechSensitivity: z
            .enum(['END_SENSITIVITY_UNSPECIFIED', 'END_SENSITIVITY_HIGH', 'END_SENSITIVITY_LOW'])
            .optional(),
          prefixPaddingMs: int.optional(),
          silenceDurationMs: int.optional(),
        })
        .optional(),
      activityHandling: z
        .enum(['ACTIVITY_HANDLING_UNSPECIFIED', 'START_OF_ACTIVITY_INTERRUPTS', 'NO_INTERRUPTION'])
        .optional(),
      turnCoverage: z
        .enum([
          'TURN_COVERAGE_UNSPECIFIED',
          'TURN_INCLUDES_ONLY_ACTIVITY',
          'TURN_INCLUDES_ALL_INPUT',
          'TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO',
        ])
        .optional(),
    })
    .optional(),
  sessionResumption: z
    .looseObject({ handle: z.string().optional(), transparent: z.boolean().optional() })
    .optional(),
  contextWindowCompression: z
    .looseObject({
      triggerTokens: int.optional(),
      slidingWindow: z.looseObject({ targetTokens: int.optional() }).optional(),
    })
    .optional(),
  inputAudioTranscription: z.looseObject({}).optional(),
  outputAudioTranscription: z.looseObject({}).optional(),
  proactivity: z.looseObject({}).optional(),
  safetySettings: z.array(z.looseObject({})).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  avatarConfig: z.looseObject({}).optional(),
  historyConfig: z.looseObject({ initialHistoryInClientContent: z.boolean().optional() }).optional(),
  explicitVadSignal: z.boolean().optional(),
});
export type Setup = z.infer<typeof setupSchema>;

export const realtimeInputSchema = z.looseObject({
  audio: blob.optional(),
  video: blob.optional(),
  text: z.string().optional(),
  mediaChunks: z.array(blob).optional(),
  activityStart: z.looseObject({}).optional(),
  activityEnd: z.looseObject({}).optional(),
  audioStreamEnd: z.boolean().optional(),
});
export type RealtimeInput = z.infer<typeof realtimeInputSchema>;

export const clientContentSchema = z.looseObject({
  turns: z.array(contentSchema).optional(),
  turnComplete: z.boolean().optional(),
});
export type ClientContent = z.infer<typeof clientContentSchema>;

export const functionResponseSchema = z.looseObject({
  id: z.string().optional(),
  name: z.string().optional(),
  response: z.record(z.string(), z.unknown()).optional(),
  scheduling: z.enum(['SCHEDULING_UNSPECIFIED', 'SILENT', 'WHEN_IDLE', 'INTERRUPT']).optional(),
  willContinue: z.boolean().optional(),
});
export type FunctionResponse = z.infer<typeof functionResponseSchema>;

export const toolResponseSchema = z.looseObject({
  functionResponses: z.array(functionResponseSchema).optional(),
});

/** One client frame: exactly one of the oneof fields. */
export const clientMessageSchema = z
  .strictObject({
    setup: setupSchema.optional(),
    realtimeInput: realtimeInputSchema.optional(),
    clientContent: clientContentSchema.optional(),
    toolResponse: toolResponseSchema.optional(),
    contextUpdate: z
      .looseObject({
        systemInstruction: contentSchema.optional(),
        tools: z.looseObject({ tools: toolsSchema.optional() }).optional(),
      })
      .optional(),
  })
  .refine((m) => Object.keys(m).length === 1, {
    message: 'exactly one of setup, realtimeInput, clientContent, toolResponse, contextUpdate must be set',
  });
export type ClientMessage = z.infer<typeof clientMessageSchema>;
export type ContextUpdate = NonNullable<ClientMessage['contextUpdate']>;

/** Parse result: a message, or the reason for a 1007 close. */
export type Parsed = { ok: true; message: ClientMessage } | { ok: false; reason: string };

/** Decodes one frame (text or binary UTF-8) and validates it. Never throws. */
export function parseClientFrame(data: Buffer | string): Parsed {
  let json: unknown;
  try {
    const text = typeof data === 'string' ? data : new TextDecoder('utf-8', { fatal: true }).decode(data);
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'Invalid JSON payload received.' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, reason: 'Invalid JSON payload received. Expected an object.' };
  }
  const result = clientMessageSchema.safeParse(json);
  if (!result.success) return { ok: false, reason: describeIssues(result.error) };
  return { ok: true, message: result.data };
}

/** Zod issues → one short line in Google's style ("Invalid JSON payload received. Unknown name …"). */
function describeIssues(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const at = issue.path.length ? ` at '${issue.path.join('.')}'` : '';
  if (issue.code === 'unrecognized_keys') {
    return `Invalid JSON payload received. Unknown name "${issue.keys[0]}"${at}: Cannot find field.`;
  }
  return `Invalid JSON payload received${at}: ${issue.message}`;
}

// ---- server messages -------------------------------------------------------------------------------

export interface ServerPart {
  text?: string;
  inlineData?: { mimeType: string; data: string };
}
export interface FunctionCall {
  id: string;
  name: string;
  args: Record<string, unknown>;
}
export interface UsageMetadata {
  promptTokenCount: number;
  responseTokenCount: number;
  totalTokenCount: number;
  promptTokensDetails: { modality: string; tokenCount: number }[];
  responseTokensDetails: { modality: string; tokenCount: number }[];
}
/** Vertex AI names the response counts `candidates*` (the SDK renames them back, research §5). */
export interface VertexUsageMetadata {
  promptTokenCount: number;
  candidatesTokenCount: number;
  totalTokenCount: number;
  promptTokensDetails: { modality: string; tokenCount: number }[];
  candidatesTokensDetails: { modality: string; tokenCount: number }[];
}
export function vertexUsage(u: UsageMetadata): VertexUsageMetadata {
  const { responseTokenCount, responseTokensDetails, ...rest } = u;
  return {
    ...rest,
    candidatesTokenCount: responseTokenCount,
    candidatesTokensDetails: responseTokensDetails,
  };
}
export interface ServerContent {
  modelTurn?: { parts: ServerPart[] };
  generationComplete?: true;
  turnComplete?: true;
  interrupted?: true;
  inputTranscription?: { text: string };
  outputTranscription?: { text: string };
  turnCompleteReason?: string;
  waitingForInput?: boolean;
}
/** Everything the emulator sends; one field per frame except `usageMetadata`, which rides along. */
export interface ServerMessage {
  setupComplete?: Record<string, never>;
  serverContent?: ServerContent;
  toolCall?: { functionCalls: FunctionCall[] };
  toolCallCancellation?: { ids: string[] };
  goAway?: { timeLeft: string };
  sessionResumptionUpdate?: { newHandle?: string; resumable: boolean };
  usageMetadata?: UsageMetadata | VertexUsageMetadata;
}

/** Protobuf JSON Duration: seconds with up to 9 fractional digits and an `s` suffix ("1.5s"). */
export function durationString(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  return `${Number.isInteger(s) ? s : Number(s.toFixed(3))}s`;
}

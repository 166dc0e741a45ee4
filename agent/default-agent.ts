import { defineGeminiAgent } from './api/index.ts';
import { exampleTools } from './tools/examples.ts';

/**
 * The agent the worker runs when no module is given (`--agent` / `AGENT_MODULE`): the example tools,
 * instructions from `AGENT_INSTRUCTIONS` or room metadata.
 */
export default defineGeminiAgent({ tools: exampleTools });

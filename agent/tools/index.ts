import { exampleTools } from './examples.ts';
import { ToolRegistry } from './registry.ts';

export { ToolRegistry } from './registry.ts';
export { ToolRunner } from './runner.ts';
export { defineTool, type Tool, type ToolContext, type ToolScheduling } from './tool.ts';

/** A registry of the example tools (the default agent's, agent/default-agent.ts), for tests and embedders. */
export function defaultRegistry(): ToolRegistry {
  return new ToolRegistry(exampleTools);
}

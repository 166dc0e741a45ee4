import { exampleTools } from './examples.ts';
import { ToolRegistry } from './registry.ts';

export { ToolRegistry } from './registry.ts';
export { ToolRunner } from './runner.ts';
export { defineTool, type Tool, type ToolContext, type ToolScheduling } from './tool.ts';

/** The worker's registry: the example tools. Add your own with `register`. */
export function defaultRegistry(): ToolRegistry {
  return new ToolRegistry(exampleTools);
}

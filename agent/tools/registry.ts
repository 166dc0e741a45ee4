import type { FunctionDeclaration } from '@google/genai';
import { FUNCTION_NAME, type Tool, toFunctionDeclaration } from './tool.ts';

/** Tools by name; rooms pick the subset their config lists. */
export class ToolRegistry {
  readonly #tools = new Map<string, Tool>();

  constructor(tools: Tool[] = []) {
    for (const t of tools) this.register(t);
  }

  register(tool: Tool): this {
    if (!FUNCTION_NAME.test(tool.name)) {
      throw new Error(`tool name ${JSON.stringify(tool.name)} is not a valid function name`);
    }
    if (this.#tools.has(tool.name)) throw new Error(`tool ${tool.name} registered twice`);
    this.#tools.set(tool.name, tool);
    return this;
  }

  get(name: string): Tool | undefined {
    return this.#tools.get(name);
  }

  get names(): string[] {
    return [...this.#tools.keys()];
  }

  /** A registry with only `names`; unknown names are an error so typos in config surface at start. */
  select(names: readonly string[]): ToolRegistry {
    const unknown = names.filter((n) => !this.#tools.has(n));
    if (unknown.length) {
      throw new Error(`unknown tool(s) ${unknown.join(', ')}; available: ${this.names.join(', ') || 'none'}`);
    }
    return new ToolRegistry(names.map((n) => this.#tools.get(n)!));
  }

  declarations(): FunctionDeclaration[] {
    return [...this.#tools.values()].map(toFunctionDeclaration);
  }
}

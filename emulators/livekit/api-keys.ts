/**
 * The configured API key → secret pairs, the one table every credential check and every signature
 * (refreshed tokens, job tokens, webhooks) looks secrets up in.
 *
 * A `Map`, never a plain object: the key asked for is client input (a token's `iss`), and a plain object
 * also answers for `constructor`, `toString`, `__proto__`… with inherited values whose text anyone can
 * reproduce (`String(Object)`), which let a forged token pass as signed by a configured key.
 */
export type ApiKeys = ReadonlyMap<string, string>;

/** The table for configured pairs (a config file's `keys:` or the caller's option); own entries only. */
export function apiKeys(pairs: Readonly<Record<string, string>>): ApiKeys {
  return new Map(Object.entries(pairs));
}

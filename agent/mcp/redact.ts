import type { McpServerConfig } from './config.ts';

const MASK = '[redacted]';

/** A URL for logs: scheme, host and path; no user info, query or fragment (either may carry a token). */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * Removes a server's secrets from text before it reaches a log line or the model: every header and
 * stdio env value (and each word of one, so the token of `Bearer <token>` goes too), and the URL's user
 * info, query and fragment. Error messages of fetch, the SDK and the server can quote any of them.
 */
export function redactor(server: McpServerConfig): (text: string) => string {
  const t = server.transport;
  const values = Object.values((t.type === 'http' ? t.headers : t.env) ?? {});
  const secrets = new Set<string>();
  for (const v of values) {
    if (v.length >= 4) secrets.add(v);
    for (const word of v.split(/\s+/)) if (word.length >= 6) secrets.add(word);
  }
  let url: string | undefined;
  if (t.type === 'http') {
    const u = new URL(t.url);
    if (u.username) secrets.add(u.username);
    if (u.password) secrets.add(u.password);
    for (const v of u.searchParams.values()) if (v.length >= 4) secrets.add(v);
    if (u.search || u.hash || u.username) url = t.url;
  }
  // Longest first, so a whole value is masked before a word of it.
  const ordered = [...secrets].sort((a, b) => b.length - a.length);
  const safe = t.type === 'http' ? safeUrl(t.url) : '';
  return (text) => {
    let out = url ? text.split(url).join(safe) : text;
    for (const s of ordered) out = out.split(s).join(MASK);
    return out;
  };
}

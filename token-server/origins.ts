// Which browser origins may call the token endpoints, and which Host names the server answers to.
//
// Neither may be read off the request itself: after a DNS rebinding, a page at http://evil.example:PORT
// talks to this server with `Host: evil.example:PORT` and `Origin: http://evil.example:PORT`, so an
// "own origin" derived from Host is whatever the attacker's page is. The server's own origins are
// therefore fixed (loopback names on the port it listens on), and a Host that names neither an IP
// address, a loopback name nor a configured host is refused outright, the classic rebinding defence.
import { isIP } from 'node:net';

/** What the origin gate, CORS and the Host gate ask. */
export interface OriginPolicy {
  /**
   * Whether a browser page at `origin` may call the token endpoints of the server listening on
   * `localPort` (the socket's own port, not anything the client sent).
   */
  allowsOrigin(origin: string, localPort: number): boolean;
  /** Whether to serve a request whose `Host` header is `host` (absent: not a browser, allowed). */
  allowsHost(host: string | undefined): boolean;
}

export interface OriginPolicyOptions {
  /** Exact origins, `'*'` for any; `undefined`: loopback pages on any port. */
  corsOrigins: readonly string[] | undefined;
  /** Host names (`example.com`, `.example.com` for it and its subdomains), `'*'` for any. */
  allowedHosts: readonly string[] | undefined;
  /** The interface the server binds: a specific address is also one of its own origins. */
  bindHost: string;
}

const LOOPBACK_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/;
const WILDCARD_BINDS = new Set(['0.0.0.0', '::', '']);

/** Builds the policy from the server options. */
export function createOriginPolicy(o: OriginPolicyOptions): OriginPolicy {
  const anyOrigin = o.corsOrigins?.includes('*') ?? false;
  const listed = new Set(o.corsOrigins ?? []);
  const ownHosts = ['127.0.0.1', 'localhost', '[::1]'];
  if (!WILDCARD_BINDS.has(o.bindHost)) {
    const bind = o.bindHost.includes(':') ? `[${o.bindHost}]` : o.bindHost.toLowerCase();
    if (!ownHosts.includes(bind)) ownHosts.push(bind);
  }

  const anyHost = o.allowedHosts?.includes('*') ?? false;
  const exactHosts = new Set<string>();
  const hostSuffixes: string[] = [];
  for (const h of o.allowedHosts ?? []) {
    const name = h.trim().toLowerCase();
    if (!name || name === '*') continue;
    if (name.startsWith('.')) hostSuffixes.push(name);
    else exactHosts.add(name);
  }

  return {
    allowsOrigin(origin, localPort) {
      if (anyOrigin) return true;
      if (o.corsOrigins === undefined ? LOOPBACK_ORIGIN.test(origin) : listed.has(origin)) return true;
      // A page this server serves itself (staticDir), reached under one of its own names.
      return ownHosts.some((h) => origin === `http://${h}:${localPort}`);
    },

    allowsHost(host) {
      if (host === undefined || anyHost) return true;
      const name = hostname(host);
      if (name === undefined) return false;
      // A rebinding needs a name the attacker's DNS answers for: IP literals and the loopback names
      // (which browsers resolve themselves, RFC 6761) cannot be rebound.
      if (isIP(name.replace(/^\[|\]$/g, '')) !== 0) return true;
      if (name === 'localhost' || name.endsWith('.localhost')) return true;
      return exactHosts.has(name) || hostSuffixes.some((s) => name === s.slice(1) || name.endsWith(s));
    },
  };
}

/** The lower-cased host name of a Host header (`[v6]` keeps its brackets), or undefined if malformed. */
function hostname(host: string): string | undefined {
  if (!host || /[\s/\\@?#]/.test(host)) return undefined;
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return undefined;
  }
}

import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * A port that is free now, for a server that only takes a port number (the @livekit/agents 1.9 health
 * server reads 0 as its default 8081, so "any free port" has to be found here, before it listens).
 *
 * Not port 0's answer: that comes from the kernel's ephemeral range, which every outgoing connection
 * of this machine draws from too, and between this probe and the framework's `listen` a connection
 * may take it (EADDRINUSE, seen in CI with many processes connecting). Below that range only
 * listeners choose ports, so a random free one there stays free unless another server picks it.
 */
export async function freePort(host = '0.0.0.0'): Promise<number> {
  const [low] = ephemeralRange();
  const from = 10_000;
  for (let attempt = 0; attempt < 20 && low > from; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from));
    if (await canListen(port, host)) return port;
  }
  return listenAny(host);
}

/** The kernel's ephemeral port range (Linux), or IANA's where it cannot be read. */
function ephemeralRange(): [number, number] {
  try {
    const [a, b] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (a && b) return [a, b];
  } catch {
    // Not Linux.
  }
  return [49_152, 65_535];
}

function canListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

function listenAny(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

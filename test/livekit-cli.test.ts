import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { AccessToken, RoomServiceClient } from 'livekit-server-sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from './fixtures/wait.ts';
import { webhookEndpoint } from './fixtures/webhook-endpoint.ts';

const children: ChildProcess[] = [];

/** Starts the CLI and resolves with the first stdout line. */
async function startCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ['emulators/livekit/cli.ts', ...args], {
    cwd: new URL('..', import.meta.url).pathname,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`cli exited with ${code}`);
    }),
  ])) as [string];
  return { child, line };
}

async function validate(url: string, key: string, secret: string): Promise<number> {
  const at = new AccessToken(key, secret, { identity: 'cli-user' });
  at.addGrant({ roomJoin: true, room: 'cli' });
  const res = await fetch(`${url.replace('ws', 'http')}/rtc/validate?access_token=${await at.toJwt()}`);
  return res.status;
}

describe('LiveKit dev server CLI', () => {
  afterEach(async () => {
    for (const c of children.splice(0)) {
      if (c.exitCode === null) {
        c.kill('SIGTERM');
        await once(c, 'exit');
      }
    }
  });

  it('prints its URL alone on a line, serves livekit.yaml keys and stops on SIGTERM', async () => {
    const { child, line } = await startCli(['--port', '0']);
    expect(line).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(line).not.toMatch(/:7880$/);
    expect(await validate(line, 'devkey', 'devsecret-0123456789abcdefghijklmnop')).toBe(200);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
  });

  it('takes keys from flags and from the environment instead of the file', async () => {
    const flags = await startCli([
      '--port',
      '0',
      '--api-key',
      'flagkey',
      '--api-secret',
      'flag-secret-0123456789abcdefghijkl',
    ]);
    expect(await validate(flags.line, 'flagkey', 'flag-secret-0123456789abcdefghijkl')).toBe(200);
    expect(await validate(flags.line, 'devkey', 'devsecret-0123456789abcdefghijklmnop')).toBe(401);
    const env = await startCli(['--port', '0'], {
      LIVEKIT_API_KEY: 'envkey',
      LIVEKIT_API_SECRET: 'env-secret-0123456789abcdefghijklm',
    });
    expect(await validate(env.line, 'envkey', 'env-secret-0123456789abcdefghijklm')).toBe(200);
  });

  it('sends webhooks to the URL given with --webhook', async () => {
    const hook = await webhookEndpoint();
    try {
      const { line } = await startCli(['--port', '0', '--webhook', hook.url]);
      await new RoomServiceClient(line, 'devkey', 'devsecret-0123456789abcdefghijklmnop').createRoom({
        name: 'cli-hooked',
      });
      await waitFor(() => hook.got.length > 0, 'a webhook');
      expect(JSON.parse(hook.got[0]!.body)).toMatchObject({
        event: 'room_started',
        room: { name: 'cli-hooked' },
      });
    } finally {
      await hook.close();
    }
  });
});

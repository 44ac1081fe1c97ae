// A throwaway redis-server for the integration tests: a free loopback port, its own data directory,
// stopped (and restartable on the same port) by the test. Never the machine's own Redis service.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

const live = new Set();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** A port nobody listens on right now (the OS picks it). */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** The process id of the redis-server answering on `port` (undefined while none does). */
export async function redisPid(port) {
  try {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'INFO', 'server']);
    return Number(/process_id:(\d+)/.exec(stdout)?.[1]) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Waits until `proc` (a redis-server started on `port`) answers there: true, or false if it exited first.
 * Test files run side by side, so another one may have taken the port between freePort() and the bind:
 * the Redis that answers must be this one (its process id says so), and this one then exits.
 */
export async function answersAsItself(proc, port) {
  for (let i = 0; i < 500; i++) {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    if ((await redisPid(port)) === proc.pid) return true;
    await delay(10);
  }
  throw new Error(`redis-server did not answer on ${port}`);
}

/**
 * Start redis-server. `durable`: append-only file fsynced on every write, so a restart keeps what it
 * acknowledged (what docs/scaling.md asks of a production Redis). Returns {port, url, stop(), start()}.
 */
export async function startRedis({ durable = false } = {}) {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-redis-'));
  let proc;
  let started = false;
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    /** The running redis-server's process id (the soak samples its memory). */
    get pid() {
      return proc?.pid;
    },
    async start() {
      // The first start takes another port when one it was given was taken meanwhile; a restart comes
      // back on its own port or fails.
      for (let attempt = 0; ; attempt++) {
        const args = ['--port', String(redis.port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--logfile', ''];
        args.push('--appendonly', durable ? 'yes' : 'no');
        if (durable) args.push('--appendfsync', 'always');
        proc = spawn('redis-server', args, { stdio: 'ignore' });
        proc.unref(); // a Redis shared by a whole test file must not keep it from exiting (killed on exit)
        live.add(proc);
        const exited = new Promise((resolve) => proc.once('exit', resolve));
        proc.exited = exited;
        if (await answersAsItself(proc, redis.port)) {
          started = true;
          return;
        }
        live.delete(proc);
        if (started || attempt === 4) throw new Error(`redis-server could not listen on ${redis.port}`);
        redis.port = await freePort();
        redis.url = `redis://127.0.0.1:${redis.port}/0`;
      }
    },
    /** Kill it (SIGKILL: a crash, not a goodbye) and wait until it is gone. */
    async stop() {
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.ref(); // keep this process alive until it is gone
      proc.kill('SIGKILL');
      await proc.exited;
      live.delete(proc);
    },
    async remove() {
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await redis.start();
  return redis;
}

/** herald TOML for a node on this Redis. */
export function redisConfig(redis, extra = '') {
  return `broker = "redis"\n${extra}\n[redis]\nurl = "${redis.url}"\n`;
}

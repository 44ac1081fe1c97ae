// A throwaway redis-server for the integration tests: a free loopback port, its own data directory,
// stopped (and restartable on the same port) by the test. Never the machine's own Redis service.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

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

function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Start redis-server. `durable`: append-only file fsynced on every write, so a restart keeps what it
 * acknowledged (what docs/scaling.md asks of a production Redis). Returns {port, url, stop(), start()}.
 */
export async function startRedis({ durable = false } = {}) {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-redis-'));
  let proc;
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    /** The running redis-server's process id (the soak samples its memory). */
    get pid() {
      return proc?.pid;
    },
    async start() {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir, '--logfile', ''];
      args.push('--appendonly', durable ? 'yes' : 'no');
      if (durable) args.push('--appendfsync', 'always');
      proc = spawn('redis-server', args, { stdio: 'ignore' });
      proc.unref(); // a Redis shared by a whole test file must not keep it from exiting (killed on exit)
      live.add(proc);
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.exited = exited;
      // Ready once it accepts connections (a readiness signal, polled).
      for (let i = 0; i < 500; i++) {
        if (await accepts(port)) return;
        if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
        await delay(10);
      }
      throw new Error(`redis-server did not accept connections on ${port}`);
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

// Starting the real binary for a test: herald on a free loopback port with a config of its own, two
// nodes behind a balancer (startBalanced), and the clients a stopped herald closes (track).

import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { eventually, request, uniq, within } from './http.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '../../..');
export const heraldBin = path.resolve(process.env.HERALD_BIN ?? path.join(repoRoot, 'build/herald'));
export const webRoot = path.resolve(process.env.HERALD_WEB_ROOT ?? path.join(repoRoot, 'web'));


const live = new Set();
// Clients opened through this module, so that stopping a herald also closes what a failed test left
// open (an EventSource would otherwise retry forever and keep the test process alive).
const openClients = new Set();
/** Remember a client opened against `url` until it closes; returns the forget function. */
export function track(url, close) {
  const entry = { url, close };
  openClients.add(entry);
  return () => openClients.delete(entry);
}
/** Close every client still open against `port` (all ports when omitted). */
export function closeClients(port) {
  for (const c of [...openClients]) {
    if (port === undefined || new URL(c.url).port === String(port)) {
      openClients.delete(c);
      c.close();
    }
  }
}
// A crashed test must not leave herald processes behind.
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/**
 * Start `herald serve --listen 127.0.0.1:0 --config <tmp>` (or `port`) and wait for its "listening on" line.
 * `config` is TOML appended after `web_root` (so it may open tables but must not set web_root).
 * The login database lives in the run's own temporary directory; `login` is TOML added to the
 * `[login]` table (so `config` must not open `[login]` itself), and `users` ([{name, password}]) are
 * created with `herald users add` before the server starts. `root` replaces the web root (web/).
 * In the Redis pass each herald gets key prefix of its own in Redis (from its directory, so a restart in
 * the same `dir` finds its accounts and sessions again) unless `redisPrefix` names one: nodes of one
 * deployment share theirs (startBalanced).
 */
export async function startHerald({
  config = '',
  login = '',
  users = [],
  args = [],
  readyTimeoutMs = 10000,
  dir: keepDir,
  redisPrefix,
  waitForBroker: waitForBrokerToo = true, // on Redis: resolve once it is connected
  root = webRoot,
  port: listenPort = 0, // a fixed port: a restarted herald comes back where its clients knew it
} = {}) {
  if (!existsSync(heraldBin)) {
    throw new Error(`herald binary not found at ${heraldBin} (build it, or set HERALD_BIN)`);
  }
  // A caller-given directory outlives the process (a restart test reopens the same database).
  const dir = keepDir ?? (await mkdtemp(path.join(tmpdir(), 'herald-it-')));
  const configFile = path.join(dir, 'herald.toml');
  // A JSON string literal is a valid TOML basic string for any path.
  const database = path.join(dir, 'herald.db');
  let broker = '';
  let redisTable = '';
  // HERALD_TEST_BROKER=redis runs the same tests with every herald on one Redis of this test process,
  // HERALD_TEST_BROKER=redis-cluster on one Redis Cluster of it (unless the test chose its broker itself).
  if (onRedisPass() && !/^broker\s*=/m.test(config)) {
    const redis = await sharedRedis();
    broker = 'broker = "redis"\n';
    const where = redis.seeds ? `cluster = ${JSON.stringify(redis.seeds)}\n` : `url = "${redis.url}"\n`;
    redisTable = `[redis]\n${where}key_prefix = "${redisPrefix ?? `${path.basename(dir)}:`}"\n`;
  }
  // Tests publish from loopback without a key unless they say otherwise (the setting is off by default).
  const trust = /^(loopback_publish|publish_key)\s*=/m.test(config) ? '' : 'loopback_publish = true\n';
  await writeFile(
    configFile,
    `web_root = ${JSON.stringify(root)}\n${broker}${trust}${config}\n` +
      `[login]\ndatabase = ${JSON.stringify(database)}\n${login}\n${redisTable}`,
  );
  for (const { name, password } of users) {
    execFileSync(heraldBin, ['users', 'add', name, '--password', password, '--config', configFile], { stdio: 'pipe' });
  }

  const proc = spawn(heraldBin, ['serve', '--listen', `127.0.0.1:${listenPort}`, '--config', configFile, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);

  const logLines = [];
  let scheme = 'http'; // https when the config has [tls]
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      if (!keepDir) rm(dir, { recursive: true, force: true }).catch(() => {});
      resolve({ code, signal, at: Date.now() });
    });
  });

  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`herald did not print "listening on" within ${readyTimeoutMs} ms\n${logLines.join('\n')}`));
    }, readyTimeoutMs);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`herald exited (code ${code}, signal ${signal}) before listening\n${logLines.join('\n')}`));
    });
    // Both streams are drained for the whole life of the process, or a chatty herald would block
    // on a full pipe.
    for (const stream of [proc.stdout, proc.stderr]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        if (process.env.HERALD_LOG) process.stderr.write(chunk);
        const lines = (partial + chunk).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          logLines.push(line);
          if (logLines.length > 500) logLines.shift();
          const m = /listening on (https?):\/\/127\.0\.0\.1:(\d+)/.exec(line);
          if (m) {
            clearTimeout(timer);
            scheme = m[1];
            resolve(Number(m[2]));
          }
        }
      });
    }
  });

  const port = await ready;
  const url = `${scheme}://127.0.0.1:${port}`;
  const onRedis = broker !== '' || /^broker\s*=\s*"redis"/m.test(config);
  if (onRedis && waitForBrokerToo) {
    try {
      await waitForBroker(url);
    } catch (err) {
      proc.kill('SIGKILL'); // a herald left running would keep the test process alive: fail, don't hang
      throw err;
    }
  }
  return {
    url,
    wsUrl: `${scheme === 'https' ? 'wss' : 'ws'}://127.0.0.1:${port}`,
    port,
    proc,
    exited,
    dir,
    configFile,
    database,
    logs: () => logLines.join('\n'),
    /** Send `signal` (SIGTERM) and await exit; SIGKILL after `killAfterMs` so a hang cannot wedge the suite. */
    async stop({ signal = 'SIGTERM', killAfterMs = 10000 } = {}) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const guard = setTimeout(() => proc.kill('SIGKILL'), killAfterMs);
        const result = await exited;
        clearTimeout(guard);
        closeClients(port);
        return result;
      }
      closeClients(port);
      return exited;
    },
  };
}

/**
 * Wait until a herald on Redis has connected to it: it listens at once, but answers 503
 * broker_unavailable until then.
 */
export async function waitForBroker(url, { timeoutMs = 10000 } = {}) {
  await eventually(async () => (await request(`${url}/channels/herald-ready`)).status === 200, {
    timeoutMs,
    what: `${url} to reach its broker`,
  });
}

/**
 * The herald a test talks to as its clients would. One node; in the Redis pass (HERALD_TEST_BROKER=redis),
 * two nodes on one Redis behind a balancer that sends every request and every WebSocket to a node picked
 * at random (lib/balancer.mjs; the seed is printed): what one node does, two must do the same, with no
 * stickiness. Takes startHerald's options (`users` are added through the first node only: the accounts
 * are Redis's). Returns what startHerald does (url, wsUrl, port, stop(), logs()) plus `nodes` and `balancer`
 * in the Redis pass.
 */
export async function startBalanced(options = {}) {
  if (!onRedisPass() || /^broker\s*=/m.test(options.config ?? '')) {
    return startHerald(options);
  }
  const dirs = options.dir ? [options.dir, path.join(options.dir, 'second-node')] : [undefined, undefined];
  if (dirs[1]) await mkdir(dirs[1], { recursive: true });
  const redisPrefix = `${options.dir ? path.basename(options.dir) : uniq('pair')}:`;
  const { port, ...each } = options; // a fixed port is the balancer's: where the clients reach "the" herald
  const first = await startHerald({ ...each, dir: dirs[0], redisPrefix });
  let second;
  try {
    second = await startHerald({ ...each, users: [], dir: dirs[1], redisPrefix });
  } catch (err) {
    await first.stop();
    throw err;
  }
  const { startBalancer } = await import('./balancer.mjs');
  const balancer = await startBalancer([first, second], { port });
  return {
    url: balancer.url,
    wsUrl: balancer.wsUrl,
    port: balancer.port,
    nodes: [first, second],
    balancer,
    logs: () => `${first.logs()}\n--- second node ---\n${second.logs()}`,
    async stop() {
      await Promise.all([first.stop(), second.stop()]);
      closeClients(balancer.port);
      await balancer.stop();
    },
  };
}

/** The suite runs with herald on Redis: one Redis (HERALD_TEST_BROKER=redis) or a cluster (redis-cluster). */
export function onRedisPass() {
  return ['redis', 'redis-cluster'].includes(process.env.HERALD_TEST_BROKER);
}

let redisOfThisProcess;
function sharedRedis() {
  redisOfThisProcess ??=
    process.env.HERALD_TEST_BROKER === 'redis-cluster'
      ? import('./redis_cluster.mjs').then(({ startRedisCluster }) => startRedisCluster())
      : import('./redis.mjs').then(({ startRedis }) => startRedis());
  return redisOfThisProcess;
}

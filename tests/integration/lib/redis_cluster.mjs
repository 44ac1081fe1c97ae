// A throwaway Redis Cluster for the integration tests' cluster pass (HERALD_TEST_BROKER=redis-cluster):
// 3 primaries and 3 replicas on loopback (redis-server --cluster-enabled yes, joined by
// redis-cli --cluster create --cluster-replicas 1), each node's files in a temporary directory, killed
// when the test process exits. Never the machine's own Redis.
import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';

import { answersAsItself, freePort } from './redis.mjs';

const run = promisify(execFile);
const live = new Set();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

function bindable(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

// A free port whose cluster bus port (+10000) is free and valid too.
async function nodePort(taken) {
  for (let i = 0; i < 200; i++) {
    const port = await freePort();
    if (port < 55000 && !taken.includes(port) && (await bindable(port + 10000))) return port;
  }
  throw new Error('no free port pair for a cluster node');
}

async function cli(port, ...args) {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args]);
  return stdout;
}

/** Starts the cluster and waits until every node serves every slot. Returns {seeds, ports, stop()}. */
export async function startRedisCluster() {
  // A node whose port another test process took meanwhile exits: the whole cluster starts again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const cluster = await tryStartRedisCluster();
    if (cluster) return cluster;
  }
  throw new Error('no free ports for a Redis Cluster');
}

async function tryStartRedisCluster() {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-cluster-'));
  const ports = [];
  const procs = [];
  for (let i = 0; i < 6; i++) ports.push(await nodePort(ports));
  for (const port of ports) {
    const nodeDir = path.join(dir, String(port));
    await mkdir(nodeDir);
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', nodeDir,
        '--logfile', '', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', '1000'],
      { stdio: 'ignore' },
    );
    proc.unref();
    live.add(proc);
    procs.push(proc);
  }
  for (const [i, port] of ports.entries()) {
    if (!(await answersAsItself(procs[i], port))) {
      for (const proc of procs) {
        proc.kill('SIGKILL');
        live.delete(proc);
      }
      await rm(dir, { recursive: true, force: true });
      return null;
    }
  }
  await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1',
    '--cluster-yes']);
  // Settled once every node says the cluster is ok (a readiness signal, polled).
  for (let i = 0; ; i++) {
    const states = await Promise.all(ports.map((p) => cli(p, 'CLUSTER', 'INFO').catch(() => '')));
    if (states.every((s) => s.includes('cluster_state:ok'))) break;
    if (i > 600) throw new Error('the cluster did not settle');
    await delay(50);
  }
  return {
    ports,
    seeds: ports.slice(0, 3).map((p) => `127.0.0.1:${p}`),
    async stop() {
      for (const proc of procs) {
        proc.kill('SIGKILL');
        live.delete(proc);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// A reverse proxy on the same host, in front of a herald: Debian's nginx (installed by scripts/install-deps),
// started in the foreground with a config of its own on a free loopback port, as an operator would run it
// (proxy_pass, the forwarding headers nginx's documentation recommends, WebSocket upgrades, no buffering
// for event streams). `forwardFor: false` leaves X-Forwarded-For and X-Real-IP out; `host` chooses the Host
// herald sees ('$http_host': the client's, port included; '$proxy_host': herald's own address, nginx's default).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { eventually, send } from './herald.mjs';
import { freePort } from './redis.mjs';

export const nginxPath = process.env.HERALD_NGINX ?? '/usr/sbin/nginx';

export async function startProxy(upstreamUrl, options = {}) {
  // Test files run side by side: another may take the port between freePort() and nginx's bind. Then
  // this nginx exits, and the one answering on the port is not this one (its X-Test-Proxy says so).
  for (let attempt = 0; ; attempt++) {
    const proxy = await tryStartProxy(upstreamUrl, options);
    if (proxy) return proxy;
    if (attempt === 4) throw new Error('nginx found no free port');
  }
}

async function tryStartProxy(upstreamUrl, { forwardFor = true, host = '$http_host' }) {
  const dir = await mkdtemp(path.join(tmpdir(), 'herald-proxy-'));
  const id = path.basename(dir);
  const port = await freePort();
  const upstream = new URL(upstreamUrl).host;
  const forwarding = forwardFor
    ? `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n      proxy_set_header X-Real-IP $remote_addr;`
    : '';
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${port};
    add_header X-Test-Proxy ${id} always;
    location / {
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host ${host};
      ${forwarding}
      proxy_buffering off;
      proxy_read_timeout 120s;
    }
  }
}
`;
  await writeFile(path.join(dir, 'nginx.conf'), conf);
  const proc = spawn(nginxPath, ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  // Ready when herald's /healthz answers through it, and through this nginx.
  let taken = false;
  try {
    await eventually(
      async () => {
        if (proc.exitCode !== null) {
          if (/Address already in use/.test(output + (await readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '')))) {
            return (taken = true);
          }
          throw new Error(`nginx exited before serving: ${output}`);
        }
        const r = await send(`${url}/healthz`).catch(() => ({}));
        return r.status === 200 && r.headers.get('x-test-proxy') === id;
      },
      { what: `nginx serving on ${url}`, everyMs: 20 },
    );
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  if (taken) {
    await rm(dir, { recursive: true, force: true });
    return null;
  }
  return {
    url,
    port,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// A real browser for the page tests: Debian's Chromium driven by playwright-core (no downloaded
// browser). One browser per test file; each simulated device (PC, phone) is its own context, with its
// own cookies.

import { chromium } from 'playwright-core';

export const chromiumPath = process.env.HERALD_CHROMIUM ?? '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox', // tests may run as root in a container
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  // Nothing but the pages under test on the network:
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launch headless Chromium. `hosts` maps host names to 127.0.0.1 for this browser alone, so a page can be
 * opened at a name that is not one of herald's (no /etc/hosts, no DNS).
 */
export function launchBrowser({ headless = !process.env.HERALD_HEADED, hosts = [] } = {}) {
  const args = [...ARGS];
  if (hosts.length) args.push(`--host-resolver-rules=${hosts.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`);
  return chromium.launch({ executablePath: chromiumPath, headless, args });
}

/**
 * A fresh context (a separate device: its own cookies and storage) with one page. `baseURL` lets
 * tests say page.goto('/login.html'). Console errors and page exceptions are collected in `errors`
 * so a test can show them when it fails.
 */
export async function openDevice(browser, baseURL, { name = 'device', userAgent } = {}) {
  const context = await browser.newContext({ baseURL, userAgent });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(`${name}: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`${name} console: ${msg.text()}`);
  });
  return { context, page, errors, close: () => context.close() };
}

// Collector: an append-only list with promises that resolve when it reaches a state.

import { DEFAULT_WAIT_MS } from './http.mjs';

export class Collector {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.endReason = null;
    this.waiters = new Set();
  }

  push(item) {
    this.items.push(item);
    for (const w of [...this.waiters]) w();
  }

  end(reason = 'ended') {
    if (this.endReason !== null) return;
    this.endReason = reason;
    for (const w of [...this.waiters]) w();
  }

  /** Resolve with fn(items) once it returns something other than undefined/false. */
  waitUntil(fn, { timeoutMs = DEFAULT_WAIT_MS, what = 'condition' } = {}) {
    return new Promise((resolve, reject) => {
      const describe = () =>
        `${this.name}: ${what} not met; have ${this.items.length} item(s): ` +
        JSON.stringify(this.items.slice(-5)).slice(0, 1200);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
      };
      const waiter = () => {
        let r;
        try {
          r = fn(this.items);
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (r !== undefined && r !== false) {
          finish();
          resolve(r);
        } else if (this.endReason !== null) {
          finish();
          reject(new Error(`${describe()} (stream ended: ${this.endReason})`));
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${describe()} (timeout ${timeoutMs} ms)`));
      }, timeoutMs);
      this.waiters.add(waiter);
      waiter();
    });
  }

  /** Resolve with the first n items once there are n. */
  waitFor(n, opts = {}) {
    return this.waitUntil((items) => (items.length >= n ? items.slice(0, n) : undefined), {
      what: `${n} item(s)`,
      ...opts,
    });
  }

  /** Resolve with the first item at index >= from satisfying pred. */
  waitForItem(pred, { from = 0, ...opts } = {}) {
    return this.waitUntil((items) => items.slice(from).find(pred), { what: 'matching item', ...opts });
  }
}

// Fake transports for the unit tests: a WebSocket, an EventSource and a fetch that the test drives by
// hand. Each records what the client did and announces it through a queue the test awaits, so a test
// waits on the client's own actions, never on time.

// An async queue: push() from the fakes, next() from the test.
export class Queue {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.waiters = [];
  }
  push(item) {
    const w = this.waiters.shift();
    if (w) w(item);
    else this.items.push(item);
  }
  next(timeoutMs = 2000) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: nothing came in ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((item) => {
        clearTimeout(timer);
        resolve(item);
      });
    });
  }
  get size() {
    return this.items.length;
  }
}

export function fakeNetwork() {
  const sockets = new Queue('websocket');
  const streams = new Queue('eventsource');
  const requests = new Queue('fetch');
  const all = { sockets: [], streams: [], requests: [] };

  class FakeWebSocket {
    constructor(url) {
      this.url = new URL(url);
      this.readyState = 0;
      this.sent = new Queue(`frames sent on ${url}`);
      this.frames = [];
      all.sockets.push(this);
      sockets.push(this);
    }
    send(text) {
      if (this.readyState !== 1) throw new Error('not open');
      const frame = JSON.parse(text);
      this.frames.push(frame);
      this.sent.push(frame);
    }
    close() {
      this.readyState = 3;
      this.closedByClient = true;
    }
    // ---- driven by the test
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    receive(frame) {
      this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
    }
    drop(code = 1006, reason = '') {
      this.readyState = 3;
      this.onclose?.({ code, reason });
    }
  }

  class FakeEventSource {
    constructor(url) {
      this.url = new URL(url);
      this.listeners = new Map();
      all.streams.push(this);
      streams.push(this);
    }
    addEventListener(type, fn) {
      this.listeners.set(type, fn);
    }
    removeEventListener(type) {
      this.listeners.delete(type);
    }
    close() {
      this.closed = true;
    }
    open() {
      this.onopen?.({});
    }
    receive(envelope) {
      this.onmessage?.({ data: JSON.stringify(envelope), lastEventId: envelope.id });
    }
    fail() {
      this.onerror?.({});
    }
  }

  // fetch: each call is a request the test answers with respond(status, body, headers).
  function fakeFetch(url, init = {}) {
    return new Promise((resolve, reject) => {
      const req = {
        url: new URL(url),
        init,
        respond(status, body = '', headers = {}) {
          const text = typeof body === 'string' ? body : JSON.stringify(body);
          resolve(new Response(status === 204 ? null : text, { status, headers }));
        },
        fail() {
          reject(new TypeError('fetch failed'));
        },
      };
      init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      all.requests.push(req);
      requests.push(req);
    });
  }

  return { WebSocket: FakeWebSocket, EventSource: FakeEventSource, fetch: fakeFetch, sockets, streams, requests, all };
}

// A poll answer of herald: {channel, cursor, gap, more, messages} and its Herald-Cursor.
export function pollAnswer(channel, messages, cursor) {
  const last = cursor ?? messages.at(-1)?.id;
  return [200, { channel, cursor: last, gap: false, more: false, messages }, last ? { 'Herald-Cursor': last } : {}];
}

export const envelope = (channel, n, data = { n }) => ({ channel, id: `c.${n}`, time: 1, data });

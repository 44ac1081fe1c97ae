// Server-Sent Events, read raw with fetch so the wire format and the end of the stream are visible, and
// through the `eventsource` package as a browser's EventSource would.

import { EventSource } from 'eventsource';
import { track } from './server.mjs';
import { Collector } from './collector.mjs';

/**
 * Open GET {url} with Accept: text/event-stream. Returns
 * {response: Promise<{status, headers, json?}>, events: Collector<{event,id,data,dataLines}>,
 *  comments: Collector<string>, lines: string[], retry, ended: Promise<{clean, error?}>, close()}.
 */
export function openSSE(url, { headers = {} } = {}) {
  const ac = new AbortController();
  const events = new Collector(`sse ${url}`);
  const comments = new Collector(`sse comments ${url}`);
  const sse = { events, comments, lines: [], retry: undefined, closedByUs: false };
  let endResolve;
  sse.ended = new Promise((r) => (endResolve = r));
  const finish = (result) => {
    events.end(result.clean ? 'stream ended' : `stream failed: ${result.error}`);
    comments.end('stream ended');
    endResolve(result);
  };

  let block = { event: undefined, id: undefined, data: [] };
  const onLine = (line) => {
    sse.lines.push(line);
    if (line === '') {
      if (block.data.length > 0 || block.event !== undefined) {
        events.push({ event: block.event ?? 'message', id: block.id, data: block.data.join('\n'), dataLines: block.data });
      }
      block = { event: undefined, id: undefined, data: [] };
      return;
    }
    if (line.startsWith(':')) {
      comments.push(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') block.data.push(value);
    else if (field === 'event') block.event = value;
    else if (field === 'id') block.id = value;
    else if (field === 'retry') sse.retry = Number(value);
  };

  sse.response = fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: ac.signal }).then(
    async (res) => {
      const ctype = res.headers.get('content-type') ?? '';
      if (res.status !== 200 || !ctype.startsWith('text/event-stream')) {
        const text = await res.text().catch(() => '');
        let json;
        try {
          json = JSON.parse(text);
        } catch {}
        finish({ clean: true, status: res.status });
        return { status: res.status, headers: res.headers, text, json };
      }
      (async () => {
        const decoder = new TextDecoder();
        let buf = '';
        try {
          for await (const chunk of res.body) {
            buf += decoder.decode(chunk, { stream: true });
            for (;;) {
              const n = buf.search(/[\r\n]/);
              if (n < 0 || (buf[n] === '\r' && n === buf.length - 1)) break; // maybe a split \r\n
              const skip = buf[n] === '\r' && buf[n + 1] === '\n' ? 2 : 1;
              const line = buf.slice(0, n);
              buf = buf.slice(n + skip);
              onLine(line);
            }
          }
          finish({ clean: true });
        } catch (err) {
          finish({ clean: false, aborted: sse.closedByUs, error: String(err?.cause ?? err) });
        }
      })();
      return { status: res.status, headers: res.headers };
    },
    (err) => {
      finish({ clean: false, aborted: sse.closedByUs, error: String(err?.cause ?? err) });
      throw err;
    },
  );
  sse.response.catch(() => {});
  const untrack = track(url, () => {
    sse.closedByUs = true;
    ac.abort();
  });
  sse.ended.then(untrack);
  sse.close = () => {
    sse.closedByUs = true;
    ac.abort();
    return sse.ended;
  };
  return sse;
}

/**
 * The `eventsource` package (what a Node or browser app would use). `lastEventId` is sent as the
 * Last-Event-ID header on the first request (the package sends its own on reconnects). `types` are
 * named events to collect besides `message`. Collects {type, id, data}.
 */
export function openEventSource(url, { lastEventId, types = [] } = {}) {
  const fetchImpl = (input, init) =>
    fetch(input, {
      ...init,
      headers: {
        ...(lastEventId !== undefined ? { 'Last-Event-ID': lastEventId } : {}),
        ...init.headers, // the package's own Last-Event-ID (on reconnect) wins
      },
    });
  const es = new EventSource(url, { fetch: fetchImpl });
  const events = new Collector(`eventsource ${url}`);
  const errors = new Collector(`eventsource errors ${url}`);
  const onEvent = (ev) => events.push({ type: ev.type, id: ev.lastEventId, data: ev.data });
  es.addEventListener('message', onEvent);
  for (const t of types) es.addEventListener(t, onEvent);
  es.addEventListener('error', (ev) => errors.push({ code: ev.code, message: ev.message, readyState: es.readyState }));
  // Settles on the first `open` or `error`, whichever comes first.
  const opened = new Promise((resolve, reject) => {
    es.addEventListener('open', resolve, { once: true });
    es.addEventListener('error', (e) => reject(new Error(`EventSource failed: ${e.code} ${e.message}`)), { once: true });
  });
  opened.catch(() => {});
  const untrack = track(url, () => es.close());
  return {
    es,
    events,
    errors,
    opened,
    close() {
      untrack();
      es.close();
      events.end('closed');
    },
  };
}

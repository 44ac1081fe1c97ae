// Helpers for the herald integration tests: start the real binary on a free loopback port, publish,
// and subscribe with real clients (fetch, the `eventsource` package, the `ws` package).
//
// Synchronisation is event-driven: every wait resolves on something observed (a frame, an event, a
// response, a subscriber count in GET /channels/{ch}); timeouts exist only to turn a hang into a
// readable failure.
//
// One module per subject; this one gathers them, so a test imports what it needs from './lib/herald.mjs'.

export * from './server.mjs';
export * from './http.mjs';
export * from './collector.mjs';
export * from './sse.mjs';
export * from './ws.mjs';

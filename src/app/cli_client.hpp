#pragma once
// `herald pub` and `herald sub`: a shell's client of a running herald, so nobody needs curl's SSE flags.
// The server is $HERALD_URL (default http://127.0.0.1:8080), the publish key $HERALD_KEY.
#include <optional>
#include <string>

namespace herald::cli {

// POST /pub/{channel}: `data`, or standard input when nullopt. Prints the answer ({"id":...}); returns the
// process exit code (0 published, 1 refused, 2 unreachable or a bad URL).
int publish(const std::string& channel, std::optional<std::string> data, bool json, const std::string& event);

// GET /sub/{channel} over `transport` (sse, longpoll, ws), from `since` when given: prints one message
// envelope (JSON) per line until the server ends the stream or the process is interrupted. Returns the
// exit code (0 ended by the server, 1 refused, 2 unreachable or a bad URL).
int subscribe(const std::string& channel, const std::string& since, const std::string& transport);

}  // namespace herald::cli

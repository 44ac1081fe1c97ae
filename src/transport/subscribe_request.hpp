#pragma once
// What every transport shares on the subscribe side: reading the request's resume point, and joining a
// channel so that history and live messages meet with no window between them.
#include <boost/url/params_view.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "broker/broker.hpp"
#include "broker/presence_store.hpp"
#include "config/config.hpp"
#include "core/catch_up.hpp"
#include "core/error.hpp"
#include "core/hub.hpp"
#include "http/server_context.hpp"
#include "runtime/beast.hpp"

namespace herald {

struct SubscribeRequest {
  std::string channel;
  ReadFrom from;
  unsigned wait_seconds = 0;             // > 0: long poll (clamped to the configured maximum)
  bool envelopes = false;                // SSE `format=envelope`: every event's data is the whole envelope
  std::optional<PresenceMember> member;  // `client` and `name`: who this is, in a presence namespace
  std::shared_ptr<void> presence;        // the member's hold, for as long as the connection lives
  std::string token;                     // ?token= or Authorization: Bearer (private namespaces)
  std::string user;                      // the connection token's `sub`: who is listening ("" when nobody)
  std::int64_t expires_at = 0;           // unix seconds when the token it relies on ends (0: never)
  std::shared_ptr<void> user_hold;       // the user's place under limits.max_connections_per_user
};

// A subscribe token comes as ?token=, or as Authorization: Bearer (what fetch can send; EventSource cannot).
std::string subscribe_token_of(const Request& request, boost::urls::params_view params);

// Reads `since` (or the Last-Event-ID header, which wins: browsers send it on reconnect), `last` and
// `wait`. The channel is filled in by the caller.
std::variant<SubscribeRequest, Error> parse_subscribe_request(const Request& request, boost::urls::params_view params,
                                                              const Limits& limits);

bool accepts_event_stream(const Request& request);

// How long until the unix second `at` begins (zero when it has): a token is expired from its `exp` on.
std::chrono::milliseconds until_unix(std::int64_t at);

// Subscribes `subscriber` to the channel on this loop's hub, then asks for the first page of history
// from `from` (subscribing first leaves no window for a message to slip through; `catch_up` holds live
// messages back until history has been read). On a read error the subscription is undone before `done`.
void join_channel(ServerContext& context, Hub& hub, Subscriber& subscriber, CatchUp& catch_up,
                  const std::string& channel, const ReadFrom& from, Broker::ReadCallback done);

// Asks for the page of history after where `catch_up` stands.
void read_next_page(ServerContext& context, CatchUp& catch_up, const std::string& channel, Broker::ReadCallback done);

}  // namespace herald

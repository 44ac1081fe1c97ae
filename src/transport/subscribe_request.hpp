#pragma once
// What every transport shares on the subscribe side: reading the request's resume point, and joining a
// channel so that history and live messages meet with no window between them.
#include <boost/url/params_view.hpp>
#include <string>
#include <variant>

#include "broker/broker.hpp"
#include "config/config.hpp"
#include "core/error.hpp"
#include "core/hub.hpp"
#include "http/beast.hpp"

namespace herald {

struct SubscribeRequest {
  std::string channel;
  ReadFrom from;
  unsigned wait_seconds = 0;  // > 0: long poll (clamped to the configured maximum)
};

// Reads `since` (or the Last-Event-ID header, which wins: browsers send it on reconnect), `last` and
// `wait`. The channel is filled in by the caller.
std::variant<SubscribeRequest, Error> parse_subscribe_request(const Request& request, boost::urls::params_view params,
                                                              const Limits& limits);

bool accepts_event_stream(const Request& request);

std::optional<Cursor> parse_since(std::string_view text, Error& error);

// Subscribes `subscriber` to the channel on this loop's hub, then reads history from `from`. Live
// messages that the read also returned are skipped by the subscriber's SubscriptionCursor. On a read
// error the subscription is undone before `done` runs.
void join_channel(Broker& broker, Hub& hub, Subscriber& subscriber, const std::string& channel, const ReadFrom& from,
                  std::size_t limit, Broker::ReadCallback done);

}  // namespace herald

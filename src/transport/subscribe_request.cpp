#include "transport/subscribe_request.hpp"

#include <charconv>
#include <limits>

#include "http/responses.hpp"

namespace herald {
namespace {

// Digits only; a number too large for size_t reads as the largest (callers clamp).
std::optional<std::size_t> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 64 || text.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) return std::numeric_limits<std::size_t>::max();
  return value;
}

}  // namespace

std::string subscribe_token_of(const Request& request, boost::urls::params_view params) {
  if (auto it = params.find("token"); it != params.end()) return (*it).value;
  return std::string(bearer_token(request).value_or(""));
}

std::variant<SubscribeRequest, Error> parse_subscribe_request(const Request& request, boost::urls::params_view params,
                                                              const Limits& limits) {
  SubscribeRequest subscribe;
  // One pass over the query (decoding each parameter once); the first of a repeated parameter counts.
  std::optional<std::string> since, last, wait, format, client, name, token;
  const std::pair<std::string_view, std::optional<std::string>*> wanted[] = {
      {"since", &since},   {"last", &last}, {"wait", &wait},  {"format", &format},
      {"client", &client}, {"name", &name}, {"token", &token}};
  for (const auto& param : params) {
    for (const auto& [key, slot] : wanted) {
      if (param.key != key) continue;
      if (!*slot) *slot = std::string(param.value);
      break;
    }
  }
  if (auto header = request["Last-Event-ID"]; !header.empty()) since = std::string(header);
  if (since) {
    subscribe.from.since = parse_cursor(*since);
    if (!subscribe.from.since) {
      return Error{"bad_cursor",
                   "The cursor ('since' or Last-Event-ID) must be one herald gave: a message's id (a publish "
                   "answers with it), or the Herald-Cursor header of a poll."};
    }
  }
  if (last) {
    auto count = parse_count(*last);
    if (!count) return Error{"bad_parameter", "'last' must be a non-negative integer."};
    subscribe.from.last = *count;
  }
  if (wait) {
    auto seconds = parse_count(*wait);
    if (!seconds) return Error{"bad_parameter", "'wait' must be a non-negative number of seconds."};
    subscribe.wait_seconds = static_cast<unsigned>(std::min<std::size_t>(*seconds, limits.longpoll_max_wait_seconds));
  }
  if (format) {
    if (*format != "envelope") return Error{"bad_parameter", "'format' can only be 'envelope'."};
    subscribe.envelopes = true;
  }
  if (client || name) {
    if (!client || !name) return Error{"bad_presence", "Presence needs both 'client' and 'name'."};
    subscribe.member = PresenceMember{std::move(*client), std::move(*name)};  // checked by channel admission
  }
  subscribe.token = token ? std::move(*token) : std::string(bearer_token(request).value_or(""));
  return subscribe;
}

bool accepts_event_stream(const Request& request) {
  return request[http::field::accept].find("text/event-stream") != std::string_view::npos;
}

std::chrono::milliseconds until_unix(std::int64_t at) {
  using namespace std::chrono;
  auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch());
  return std::max(milliseconds(0), milliseconds(at * 1000) - now);
}

void join_channel(ServerContext& context, Hub& hub, Subscriber& subscriber, CatchUp& catch_up,
                  const std::string& channel, const ReadFrom& from, Broker::ReadCallback done) {
  hub.subscribe(channel, &subscriber);
  catch_up.start_read();
  context.broker.read(channel, from, context.config.limits.poll_batch_limit,
                      [&hub, &subscriber, channel, done = std::move(done)](auto outcome) {
                        if (std::holds_alternative<Error>(outcome)) hub.unsubscribe(channel, &subscriber);
                        done(std::move(outcome));
                      });
}

void read_next_page(ServerContext& context, CatchUp& catch_up, const std::string& channel, Broker::ReadCallback done) {
  catch_up.start_read();
  context.broker.read(channel, {.since = catch_up.cursor()}, context.config.limits.poll_batch_limit, std::move(done));
}

}  // namespace herald

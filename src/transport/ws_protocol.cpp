#include "transport/ws_protocol.hpp"

#include <boost/json.hpp>

#include "core/publish_rules.hpp"

namespace herald {
namespace json = boost::json;
namespace {

Error bad_frame(std::string message) { return Error{"bad_frame", std::move(message)}; }

std::string with_ref(std::string frame, const std::string& ref) {
  if (ref.empty()) return frame;
  frame.pop_back();  // the closing brace
  return frame + R"(,"ref":)" + ref + "}";
}

}  // namespace

std::variant<ClientFrame, Error> parse_client_frame(std::string_view text, std::string& ref) {
  json::error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) {
    return bad_frame("A frame is a JSON object such as {\"op\":\"subscribe\",\"channel\":\"news\"}.");
  }
  if (has_infinite_number(value)) {
    return bad_frame("The frame holds a number too large for JSON (it must fit a double, about 1.8e308).");
  }
  const json::object& object = value.as_object();
  ClientFrame frame;
  if (const auto* r = object.if_contains("ref")) ref = frame.ref = json::serialize(*r);

  const auto* op = object.if_contains("op");
  if (op == nullptr || !op->is_string()) return bad_frame("The frame has no \"op\" string.");
  if (*op == "subscribe") {
    frame.op = ClientFrame::Op::subscribe;
  } else if (*op == "unsubscribe") {
    frame.op = ClientFrame::Op::unsubscribe;
  } else if (*op == "publish") {
    frame.op = ClientFrame::Op::publish;
  } else if (*op == "auth") {
    frame.op = ClientFrame::Op::auth;
  } else if (*op == "refresh") {
    frame.op = ClientFrame::Op::refresh;
  } else {
    return bad_frame("Unknown op; use subscribe, unsubscribe, publish, auth or refresh.");
  }

  const auto* channel = object.if_contains("channel");
  const bool channel_optional = frame.op == ClientFrame::Op::auth || frame.op == ClientFrame::Op::refresh;
  if (channel_optional && (channel == nullptr || channel->is_null())) {
    channel = nullptr;
  } else if (channel == nullptr || !channel->is_string()) {
    return bad_frame("The frame has no \"channel\" string.");
  }
  if (channel != nullptr) frame.channel = std::string(channel->as_string());

  if (const auto* since = object.if_contains("since"); since != nullptr && !since->is_null()) {
    if (!since->is_string()) return Error{"bad_cursor", "\"since\" must be a cursor string."};
    frame.since = parse_cursor(since->as_string());
    if (!frame.since) return Error{"bad_cursor", "\"since\" is not a cursor herald issued."};
  }
  if (const auto* last = object.if_contains("last"); last != nullptr && !last->is_null()) {
    if (!last->is_int64() || last->as_int64() < 0) return bad_frame("\"last\" must be a non-negative integer.");
    frame.last = static_cast<std::size_t>(last->as_int64());
  }
  if (const auto* token = object.if_contains("token"); token != nullptr && !token->is_null()) {
    if (!token->is_string()) return bad_frame("\"token\" must be a string.");
    frame.token = std::string(token->as_string());
  }
  if (channel_optional && frame.token.empty()) return bad_frame("An auth or refresh frame needs a \"token\".");
  for (auto [key, field] : {std::pair{"client", &frame.client}, std::pair{"name", &frame.name}}) {
    if (const auto* value = object.if_contains(key); value != nullptr && !value->is_null()) {
      if (!value->is_string()) return Error{"bad_presence", std::string("\"") + key + "\" must be a string."};
      *field = std::string(value->as_string());
    }
  }
  if (const auto* event = object.if_contains("event"); event != nullptr && !event->is_null()) {
    if (!event->is_string()) return Error{"bad_event", "\"event\" must be a string."};
    frame.event = std::string(event->as_string());
  }
  if (frame.op == ClientFrame::Op::publish) {
    const auto* data = object.if_contains("data");
    if (data == nullptr) return bad_frame("A publish frame needs \"data\".");
    // A string is published as text; any other value as JSON.
    if (data->is_string()) {
      frame.data = std::string(data->as_string());
    } else {
      frame.data = json::serialize(*data);
      frame.data_is_json = true;
    }
    if (const auto* key = object.if_contains("idempotency_key"); key != nullptr && !key->is_null()) {
      if (!key->is_string()) return Error{"bad_idempotency_key", "\"idempotency_key\" must be a string."};
      frame.idempotency_key = std::string(key->as_string());
      if (auto refused = refuse_idempotency_key(frame.idempotency_key)) return *refused;
    }
  }
  return frame;
}

std::string subscribed_frame(const std::string& channel, Cursor cursor, bool gap, const std::string& ref) {
  return with_ref(R"({"op":"subscribed","channel":")" + channel + R"(","cursor":")" + format_cursor(cursor) +
                      R"(","gap":)" + (gap ? "true" : "false") + "}",
                  ref);
}

std::string gap_frame(const std::string& channel, Cursor cursor) {
  return R"({"op":"gap","channel":")" + channel + R"(","cursor":")" + format_cursor(cursor) + R"("})";
}

std::string unsubscribed_frame(const std::string& channel, const std::string& ref) {
  return with_ref(R"({"op":"unsubscribed","channel":")" + channel + R"("})", ref);
}

std::string published_frame(const std::string& channel, const std::string& id, const std::string& ref, bool replayed) {
  return with_ref(R"({"op":"published","channel":")" + channel + R"(","id":")" + id +
                      (replayed ? R"(","replayed":true})" : R"("})"),
                  ref);
}

std::string authenticated_frame(const std::string& user, std::int64_t expires_at, const std::string& ref) {
  return with_ref(R"({"op":"authenticated","user":)" + json::serialize(json::string(user)) + R"(,"expires_at":)" +
                      std::to_string(expires_at) + "}",
                  ref);
}

std::string refreshed_frame(const std::string& channel, std::int64_t expires_at, const std::string& ref) {
  std::string frame = R"({"op":"refreshed",)";
  if (!channel.empty()) frame += R"("channel":")" + channel + "\",";
  return with_ref(frame + R"("expires_at":)" + std::to_string(expires_at) + "}", ref);
}

std::string ending_frame(const std::string& ending_json, bool whole_socket) {
  return std::string(whole_socket ? R"({"op":"close",)" : R"({"op":"unsubscribed",)") + ending_json.substr(1);
}

std::string error_frame(const Error& error, const std::string& ref) {
  return with_ref(R"({"op":"error","code":)" + json::serialize(json::string(error.code)) + R"(,"message":)" +
                      json::serialize(json::string(error.message)) + "}",
                  ref);
}

}  // namespace herald

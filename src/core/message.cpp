#include "core/message.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>

namespace herald {

Message::Message(std::string channel, Cursor cursor, std::int64_t time_ms, std::string event, std::string data,
                 bool is_json)
    : channel_(std::move(channel)),
      cursor_(cursor),
      id_(format_cursor(cursor)),
      time_ms_(time_ms),
      event_(std::move(event)),
      data_(std::move(data)),
      is_json_(is_json) {}

const std::string& Message::envelope() const {
  std::call_once(envelope_once_, [this] {
    // Channel, id and event come from a restricted alphabet and need no escaping.
    std::string out;
    out.reserve(64 + channel_.size() + event_.size() + data_.size() + data_.size() / 8);
    out += R"({"channel":")";
    out += channel_;
    out += R"(","id":")";
    out += id_;
    out += R"(","time":)";
    out += std::to_string(time_ms_);
    if (!event_.empty()) {
      out += R"(,"event":")";
      out += event_;
      out += '"';
    }
    out += R"(,"data":)";
    out += is_json_ ? data_ : boost::json::serialize(boost::json::string_view(data_));
    out += '}';
    envelope_ = std::move(out);
  });
  return envelope_;
}

}  // namespace herald

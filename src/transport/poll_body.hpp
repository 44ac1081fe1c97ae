#pragma once
// The body of a poll answer, as a Beast body type: the few bytes of JSON around the messages belong to
// the answer; the messages are the shared envelopes, written by reference. A thousand long polls
// answered by one publish write one encoding of it, not a thousand copies.
#include <string>
#include <vector>

#include "core/message.hpp"
#include "runtime/beast.hpp"

namespace herald {

struct PollBody {
  struct value_type {
    std::string head;  // {"channel":..,"cursor":..,"gap":..,"more":..,"messages":[   (empty: no body)
    std::vector<MessagePtr> messages;
  };

  static std::uint64_t size(const value_type& body) {
    if (body.head.empty()) return 0;
    std::uint64_t total = body.head.size() + closing.size() + (body.messages.empty() ? 0 : body.messages.size() - 1);
    for (const auto& message : body.messages) total += message->envelope().size();
    return total;
  }

  class writer {
   public:
    using const_buffers_type = std::vector<asio::const_buffer>;

    template <bool isRequest, class Fields>
    writer(const http::header<isRequest, Fields>&, const value_type& body) : body_(body) {}

    void init(error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(error_code& ec) {
      ec = {};
      if (done_ || body_.head.empty()) return boost::none;
      done_ = true;
      const_buffers_type buffers;
      buffers.reserve(2 * body_.messages.size() + 2);
      buffers.emplace_back(body_.head.data(), body_.head.size());
      for (std::size_t i = 0; i < body_.messages.size(); ++i) {
        if (i > 0) buffers.emplace_back(",", 1);
        const std::string& envelope = body_.messages[i]->envelope();
        buffers.emplace_back(envelope.data(), envelope.size());
      }
      buffers.emplace_back(closing.data(), closing.size());
      return std::make_pair(std::move(buffers), false);
    }

   private:
    const value_type& body_;
    bool done_ = false;
  };

 private:
  static constexpr std::string_view closing = "]}";
};

using PollResponse = http::response<PollBody>;

}  // namespace herald

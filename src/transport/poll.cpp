// Interval polling and long polling: one request, one answer. An interval poll is a long poll that does
// not wait, so both share the answer format and only the long poll ever becomes a subscriber.
#include "transport/poll.hpp"

#include "core/catch_up.hpp"
#include "http/http_session.hpp"
#include "http/responses.hpp"
#include "transport/come_back.hpp"
#include "transport/poll_body.hpp"

namespace herald {
namespace {

PollResponse poll_response(const Request& request, const std::string& channel, const ReadResult& result) {
  const std::string cursor = format_cursor(result.cursor);
  const bool nothing = result.messages.empty() && !result.gap;
  PollResponse response{nothing ? http::status::no_content : http::status::ok, request.version()};
  response.set(http::field::server, "herald");
  response.set(http::field::cache_control, "no-store");
  response.set("Herald-Cursor", cursor);
  response.keep_alive(request.keep_alive());
  if (nothing) return response;  // 204: no body, no Content-Length
  response.set(http::field::content_type, "application/json");
  auto& body = response.body();
  body.head = R"({"channel":")" + channel + R"(","cursor":")" + cursor + R"(","gap":)" +
              (result.gap ? "true" : "false") + R"(,"more":)" + (result.more ? "true" : "false") + R"(,"messages":[)";
  body.messages = result.messages;  // shared pointers: the envelopes are not copied
  response.prepare_payload();
  return response;
}

// What an answer needs of its request (the version, whether to keep the connection): a held long poll keeps
// this much, not the request's headers.
Request answering(const Request& request) {
  Request kept{request.method(), "", request.version()};
  kept.keep_alive(request.keep_alive());
  return kept;
}

class LongPoll final : public Subscriber, public std::enable_shared_from_this<LongPoll> {
 public:
  LongPoll(std::shared_ptr<HttpSession> session, const Request& request, SubscribeRequest subscribe)
      : session_(std::move(session)),
        request_(answering(request)),
        subscribe_(std::move(subscribe)),
        hub_(session_->hub()),
        timer_(session_->get_executor()) {}

  void start() {
    hub_.attach(this);
    hub_.identify(this, subscribe_.user);
    join_channel(session_->context(), hub_, *this, catch_up_, subscribe_.channel, subscribe_.from,
                 [self = shared_from_this()](auto outcome) { self->on_history(std::move(outcome)); });
  }

  Delivery deliver(const MessagePtr& message) override {
    if (done_) return Delivery::dropped;
    if (!catch_up_.accept_live(*message)) {
      // A break in the sequence: 204 with the cursor, so that the client's next poll reads what came
      // between from history, or is told about the gap.
      if (catch_up_.broken()) {
        answer(poll_response(request_, subscribe_.channel, {.cursor = catch_up_.cursor()}), LongPollOutcome::answered);
      }
      return Delivery::skipped;
    }
    ReadResult result;
    result.messages.push_back(message);
    result.cursor = message->cursor();
    answer(poll_response(request_, subscribe_.channel, result), LongPollOutcome::answered);
    return Delivery::sent;
  }

  void close(CloseReason reason) override {
    if (reason == CloseReason::shutdown || reason == CloseReason::slow_consumer) {
      return end_without_message(LongPollOutcome::shutdown);
    }
    end_with(reason);
  }

  void revoke(const std::string& channel) override {
    if (channel == subscribe_.channel) close(CloseReason::unsubscribed);
  }

  Transport transport() const override { return Transport::longpoll; }

 private:
  void on_history(std::variant<ReadResult, Error> outcome) {
    if (done_) return;
    if (auto* error = std::get_if<Error>(&outcome)) {
      return answer(error_response(request_, *error), LongPollOutcome::failed);
    }
    const auto& result = std::get<ReadResult>(outcome);
    if (!result.messages.empty() || result.gap) {
      return answer(poll_response(request_, subscribe_.channel, result), LongPollOutcome::answered);
    }
    if (!catch_up_.take_page(result, [](const MessagePtr&) { return true; })) {
      // A message arrived while the read was on its way (an asynchronous broker): read once more.
      return read_next_page(session_->context(), catch_up_, subscribe_.channel,
                            [self = shared_from_this()](auto next) { self->on_history(std::move(next)); });
    }
    // One timer: the end of the wait, or the token's end when that comes first.
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::seconds(subscribe_.wait_seconds));
    const bool expires = subscribe_.expires_at != 0 && until_unix(subscribe_.expires_at) <= wait;
    timer_.expires_after(expires ? until_unix(subscribe_.expires_at) : wait);
    timer_.async_wait([self = shared_from_this(), expires](error_code ec) {
      if (ec) return;
      if (expires) return self->end_with(CloseReason::token_expired);
      self->end_without_message(LongPollOutcome::timed_out);  // 204 and the cursor
    });
    session_->watch_for_disconnect([self = shared_from_this()] { self->abandon(); });
  }

  // The wait ran out, or the server is shutting down: 204 with the cursor to resume from.
  void end_without_message(LongPollOutcome outcome) {
    if (!catch_up_.live()) {  // history not read yet (an asynchronous broker): nothing to resume from
      return answer(error_response(request_, {"shutting_down", "The server is shutting down."}), outcome);
    }
    auto response = poll_response(request_, subscribe_.channel, {.cursor = catch_up_.cursor()});
    if (outcome == LongPollOutcome::shutdown) {
      // The drain: when to poll again (whole seconds, rounded up), from the cursor.
      response.set(http::field::retry_after,
                   std::to_string((come_back_in_ms(session_->context().config.limits) + 999) / 1000));
    }
    answer(std::move(response), outcome);
  }

  // herald ends the poll (docs/api.md): the ending as an error answer, with the cursor to resume from.
  void end_with(CloseReason reason) {
    const Ending ending = ending_of(reason);
    std::string body = ending_json(reason);
    body.replace(1, 6, "\"error\"");  // {"code":… → {"error":…, the shape of every error answer
    Response response = json_response(request_, status_of(std::string(ending.code)), std::move(body));
    if (catch_up_.live()) response.set("Herald-Cursor", format_cursor(catch_up_.cursor()));
    answer(std::move(response), LongPollOutcome::answered);
  }

  // Answers once and leaves the channel; stays attached until the answer is written, so a shutdown
  // waits for it.
  template <class Body>
  void answer(http::response<Body> response, LongPollOutcome outcome) {
    if (done_) return;
    hub_.metrics().count_long_poll(outcome);
    release();
    session_->send(std::move(response), [self = shared_from_this()] { self->hub_.detach(self.get()); });
  }

  // The client went away while held: leave without answering; dropping the session closes the socket.
  void abandon() {
    if (done_) return;
    hub_.metrics().count_long_poll(LongPollOutcome::abandoned);
    release();
    hub_.detach(this);
    session_.reset();
  }

  void release() {
    done_ = true;
    hub_.unsubscribe(subscribe_.channel, this);
    timer_.cancel();
    session_->stop_watching();
  }

  std::shared_ptr<HttpSession> session_;
  Request request_;
  SubscribeRequest subscribe_;
  Hub& hub_;
  asio::steady_timer timer_;
  CatchUp catch_up_;  // holds live messages back until history has been read
  bool done_ = false;
};

}  // namespace

void serve_poll(const std::shared_ptr<HttpSession>& session, Request request, SubscribeRequest subscribe) {
  if (subscribe.wait_seconds > 0) {
    return std::make_shared<LongPoll>(session, request, std::move(subscribe))->start();
  }
  ServerContext& context = session->context();
  session->hub().metrics().interval_polls.add();
  std::string channel = subscribe.channel;
  context.broker.read(channel, subscribe.from, context.config.limits.poll_batch_limit,
                      [session, request = std::move(request), channel](auto outcome) {
                        if (auto* error = std::get_if<Error>(&outcome)) {
                          return session->send(error_response(request, *error));
                        }
                        session->send(poll_response(request, channel, std::get<ReadResult>(outcome)));
                      });
}

}  // namespace herald

#include "http/http_session.hpp"

#include <spdlog/spdlog.h>

#include "core/hub.hpp"
#include "http/responses.hpp"

namespace herald {

asio::ip::address plain_address(const tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

HttpSession::HttpSession(NetStream stream, ServerContext& context, Hub& hub)
    : stream_(std::move(stream)), context_(context), hub_(hub) {
  error_code ec;
  remote_ = stream_.socket().remote_endpoint(ec);
}

void HttpSession::start() { read_request(); }

void HttpSession::read_request() {
  const Limits& limits = context_.config.limits;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser_->body_limit(limits.max_payload_bytes);
  // A client that trickles its request (slowloris) or idles between requests is cut at this deadline.
  stream_.tcp().expires_after(std::chrono::seconds(limits.request_timeout_seconds));
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](error_code ec, std::size_t) { self->on_read(ec); });
}

void HttpSession::on_read(error_code ec) {
  if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
      ec == asio::error::connection_reset || ec == asio::error::eof) {
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    return;
  }
  if (ec) return reject_unreadable(ec);
  stream_.tcp().expires_never();
  head_request_ = parser_->get().method() == http::verb::head;
  cors_origin_.clear();
  context_.handle_request(shared_from_this(), parser_->release());
}

void HttpSession::reject_unreadable(error_code ec) {
  // Answer what can be answered, then close: the rest of the stream cannot be trusted.
  Request request;
  request.version(11);
  request.keep_alive(false);
  Error error{"bad_request", "The request could not be parsed: " + ec.message() + "."};
  if (ec == http::error::body_limit) {
    error = {"too_large",
             "The body is larger than " + std::to_string(context_.config.limits.max_payload_bytes) + " bytes."};
  } else if (ec == http::error::header_limit) {
    error = {"headers_too_large", "The request headers are larger than " +
                                      std::to_string(context_.config.limits.max_header_bytes) + " bytes."};
  }
  spdlog::debug("http: refusing request from {}: {}", remote_.address().to_string(), ec.message());
  send(error_response(request, error));
}

void HttpSession::begin_write() {
  context_.responses_in_flight.fetch_add(1, std::memory_order_relaxed);
  stream_.tcp().expires_after(std::chrono::seconds(context_.config.limits.request_timeout_seconds));
}

void HttpSession::end_write(error_code ec, std::size_t bytes, bool keep_alive, const std::function<void()>& written) {
  context_.responses_in_flight.fetch_sub(1, std::memory_order_relaxed);
  hub_.metrics().count_sent(Wire::http, bytes);
  if (written) written();
  if (ec || !keep_alive) {
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    return;
  }
  read_request();
}

void HttpSession::watch_for_disconnect(std::function<void()> gone) {
  watching_ = true;
  stream_.socket().async_wait(
      tcp::socket::wait_read, [self = shared_from_this(), gone = std::move(gone)](error_code ec) {
        if (ec || !self->watching_) return;
        self->watching_ = false;
        // Readable while we hold the answer: either the client closed (0 bytes) or it pipelined a request,
        // which stays in the socket for after the answer.
        char byte = 0;
        auto n = self->stream_.socket().receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
        if (ec || n == 0) gone();
      });
}

void HttpSession::stop_watching() {
  if (!watching_) return;
  watching_ = false;
  error_code ec;
  stream_.socket().cancel(ec);
}

NetStream HttpSession::take_stream() { return std::move(stream_); }

}  // namespace herald

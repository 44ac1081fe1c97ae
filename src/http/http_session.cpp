#include "http/http_session.hpp"

#include <spdlog/spdlog.h>

#include "core/hub.hpp"
#include "http/responses.hpp"

namespace herald {

asio::ip::address plain_address(const tcp::endpoint& endpoint) { return plain_address(endpoint.address()); }

HttpSession::HttpSession(NetStream stream, ServerContext& context, Hub& hub)
    : stream_(std::move(stream)), context_(context), hub_(hub) {
  error_code ec;
  remote_ = stream_.socket().remote_endpoint(ec);
  peer_.address = plain_address(remote_);
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
  if (context_.trust != nullptr) peer_ = context_.trust->identify(parser_->get(), remote_.address());
  if (peer_.via_proxy && !admit_forwarded_client()) return;
  context_.handle_request(shared_from_this(), parser_->release());
}

bool HttpSession::admit_forwarded_client() {
  if (!context_.gate || (client_ticket_ && client_ticket_address_ == peer_.address)) return true;
  client_ticket_.reset();  // a keep-alive connection from a proxy carries one client after another
  auto admitted = context_.gate->admit_client(peer_.address.to_string());
  if (auto* refusal = std::get_if<Error>(&admitted)) {
    Request request = parser_->release();
    request.keep_alive(false);
    send(error_response(request, *refusal));
    return false;
  }
  client_ticket_ = std::get<std::shared_ptr<void>>(std::move(admitted));
  client_ticket_address_ = peer_.address;
  return true;
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

bool HttpSession::origin_ok(const Request& request, const std::vector<std::string>& allowed) const {
  return origin_acceptable(check_origin(request, allowed, context_.config.login.public_url, peer_.own_host));
}

Client HttpSession::client(const Request& request) const {
  Client client{.address = peer_.address.to_string(),
                .this_machine = peer_.this_machine,
                .origin_ok = origin_ok(request, context_.config.allowed_origins)};
  if (auto bearer = bearer_token(request)) client.bearer = std::string(*bearer);
  return client;
}

NetStream HttpSession::take_stream() { return std::move(stream_); }

std::shared_ptr<void> HttpSession::take_ticket() {
  if (!client_ticket_) return std::move(ticket_);
  // The streaming connection holds both places: the proxy's connection and its client's.
  return std::make_shared<std::pair<std::shared_ptr<void>, std::shared_ptr<void>>>(std::move(ticket_),
                                                                                   std::move(client_ticket_));
}

}  // namespace herald

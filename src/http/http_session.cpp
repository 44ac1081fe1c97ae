#include "http/http_session.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "core/hub.hpp"
#include "http/responses.hpp"

namespace herald {
namespace {

// RFC 9112 §6.1 and §6.3: herald decodes one transfer coding, chunked, and only as the last. A request
// whose body length cannot be told for certain is refused before its body is read, and the connection
// closed: read any other way, part of it could be taken for a body or for another request (smuggling).
// Beast refuses Transfer-Encoding together with Content-Length, but takes a last coding other than
// chunked for "no transfer coding" and then frames the body by Content-Length, or as empty.
std::optional<Error> refuse_framing(const http::request_header<>& header) {
  auto fields = header.equal_range(http::field::transfer_encoding);
  if (fields.first == fields.second) return std::nullopt;
  std::vector<std::string> codings;  // every field's list, in order, lower case, parameters dropped
  for (auto field = fields.first; field != fields.second; ++field) {
    std::string_view list = field->value();
    while (!list.empty()) {
      auto comma = list.find(',');
      std::string_view element = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      element = element.substr(0, element.find(';'));
      auto first = element.find_first_not_of(" \t");
      if (first == std::string_view::npos) continue;  // an empty list element is allowed and means nothing
      element = element.substr(first, element.find_last_not_of(" \t") - first + 1);
      std::string coding(element);
      std::transform(coding.begin(), coding.end(), coding.begin(), [](unsigned char c) { return std::tolower(c); });
      codings.push_back(std::move(coding));
    }
  }
  if (header.version() < 11) return Error{"bad_request", "Transfer-Encoding is not allowed in an HTTP/1.0 request."};
  if (header.find(http::field::content_length) != header.end()) {
    return Error{"bad_request", "A request may not carry both Transfer-Encoding and Content-Length."};
  }
  if (codings.empty() || codings.back() != "chunked") {
    return Error{"bad_request", "The last Transfer-Encoding of a request must be chunked."};
  }
  codings.pop_back();
  if (codings.empty()) return std::nullopt;
  if (std::find(codings.begin(), codings.end(), "chunked") != codings.end()) {
    return Error{"bad_request", "Transfer-Encoding applies chunked more than once."};
  }
  return Error{"unsupported_transfer_coding",
               "herald decodes no transfer coding but chunked, not " + codings.front() + "; send the body without it."};
}

}  // namespace

asio::ip::address plain_address(const tcp::endpoint& endpoint) { return plain_address(endpoint.address()); }

HttpSession::HttpSession(NetStream stream, ServerContext& context, Hub& hub)
    : stream_(std::move(stream)), context_(context), hub_(hub) {
  error_code ec;
  remote_ = stream_.socket().remote_endpoint(ec);
  peer_.address = plain_address(remote_);
  const Limits& limits = context_.config.limits;
  stream_.linger_with({limits.lingering_close_bytes, std::chrono::seconds(limits.lingering_close_seconds)});
}

void HttpSession::start() { read_request(); }

void HttpSession::read_request() {
  const Limits& limits = context_.config.limits;
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
  parser_->body_limit(limits.max_payload_bytes);
  // A client that trickles its request (slowloris) or idles between requests is cut at this deadline.
  stream_.tcp().expires_after(std::chrono::seconds(limits.request_timeout_seconds));
  // The header first, so that its framing is checked before any of the body is read.
  http::async_read_header(stream_, buffer_, *parser_,
                          [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
}

void HttpSession::on_header(error_code ec) {
  if (ec) return on_read(ec);
  if (auto refused = refuse_framing(parser_->get().base())) {
    spdlog::debug("http: refusing request from {}: {}", remote_.address().to_string(), refused->message);
    return reject(*refused);
  }
  if (parser_->is_done()) return on_read({});
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
  private_answers_ = false;
  if (context_.trust != nullptr) peer_ = context_.trust->identify(parser_->get(), remote_.address());
  // The address as text, for per-address limits: made once per connection (and per forwarded client),
  // not per request.
  if (peer_text_.empty() || peer_.address != peer_text_of_) {
    peer_text_of_ = peer_.address;
    peer_text_ = peer_.address.to_string();
  }
  if (peer_.via_proxy && !admit_forwarded_client()) return;
  context_.handle_request(shared_from_this(), parser_->release());
}

bool HttpSession::admit_forwarded_client() {
  if (!context_.gate || (client_ticket_ && client_ticket_address_ == peer_.address)) return true;
  client_ticket_.reset();  // a keep-alive connection from a proxy carries one client after another
  auto admitted = context_.gate->admit_client(peer_text_);
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
  Error error{"bad_request", "The request could not be parsed: " + ec.message() + "."};
  if (ec == http::error::body_limit) {
    error = {"too_large",
             "The body is larger than " + std::to_string(context_.config.limits.max_payload_bytes) + " bytes."};
  } else if (ec == http::error::header_limit) {
    error = {"headers_too_large", "The request headers are larger than " +
                                      std::to_string(context_.config.limits.max_header_bytes) + " bytes."};
  }
  spdlog::debug("http: refusing request from {}: {}", remote_.address().to_string(), ec.message());
  reject(error);
}

void HttpSession::reject(const Error& error) {
  // Answer what can be answered, then close: the rest of the stream cannot be trusted.
  Request request;
  request.version(11);
  request.keep_alive(false);
  send(error_response(request, error));
}

std::string HttpSession::serialize_head(const http::response_header<>& head) {
  std::string out;
  out.reserve(256);
  out += head.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(head.result_int());
  out += ' ';
  out += head.reason();
  out += "\r\n";
  // Every field as set, Connection and Content-Length included (responses are never chunked here).
  for (const auto& field : head) {
    out += field.name_string();
    out += ": ";
    out += field.value();
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

void HttpSession::write_out(std::shared_ptr<Outgoing> out) {
  context_.responses_in_flight.fetch_add(1, std::memory_order_relaxed);
  std::size_t sent = 0;
  if (!stream_.secure()) {
    // An answer nearly always fits the socket's send buffer: then no asynchronous write is begun for it.
    error_code ec;
    sent = write_now(stream_.socket(), out->buffers, ec);
    if (ec || out->buffers.empty()) return end_write(ec, sent, out->keep_alive, out->written);
  }
  stream_.tcp().expires_after(std::chrono::seconds(context_.config.limits.request_timeout_seconds));
  const auto& buffers = out->buffers;
  asio::async_write(stream_, buffers,
                    [self = shared_from_this(), out = std::move(out), sent](error_code ec, std::size_t n) {
                      self->end_write(ec, sent + n, out->keep_alive, out->written);
                    });
}

void HttpSession::end_write(error_code ec, std::size_t bytes, bool keep_alive, const std::function<void()>& written) {
  context_.responses_in_flight.fetch_sub(1, std::memory_order_relaxed);
  hub_.metrics().count_sent(Wire::http, bytes);
  if (written) written();
  if (ec) return;  // the socket closes with this session
  if (!keep_alive) {
    // The client may still be sending (the rest of a refused upload): read on a bounded while before
    // closing, or the kernel's reset could destroy the answer before the client has read it.
    async_linger(stream_, [self = shared_from_this()](error_code) {});
    return;
  }
  read_request();
}

void HttpSession::watch_for_disconnect(std::function<void()> gone) {
  watching_ = true;
  if (buffer_.size() == 0) buffer_.shrink_to_fit();  // a held answer keeps no read buffer
  stream_.socket().async_wait(
      tcp::socket::wait_read, [self = shared_from_this(), gone = std::move(gone)](error_code ec) mutable {
        if (ec || !self->watching_) return;
        self->watching_ = false;
        // Readable while we hold the answer: either the client closed (0 bytes) or it pipelined a request,
        // which stays in the socket for after the answer. The socket is non-blocking (write_now): a wake-up
        // with nothing to read after all is no reason to give up on the client; watch on.
        char byte = 0;
        auto n = self->stream_.socket().receive(asio::buffer(&byte, 1), tcp::socket::message_peek, ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
          return self->watch_for_disconnect(std::move(gone));
        }
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
  Client client{.address = peer_text_,
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

#include "http/listener.hpp"

#include <spdlog/spdlog.h>

#include "http/http_session.hpp"

namespace herald {
namespace {
constexpr auto accept_pause = std::chrono::milliseconds(200);

// A connection over the limits gets one short answer and is closed: 503 when the server is full, 429
// when its address has too many. Written without reading the request, so it costs the server nothing.
void refuse(tcp::socket socket, const Error& why) {
  bool full = why.code == "too_many_connections";
  std::string body = R"({"error":")" + why.code + R"(","message":")" + why.message + "\"}";
  auto answer = std::make_shared<std::string>(
      std::string(full ? "HTTP/1.1 503 Service Unavailable\r\n" : "HTTP/1.1 429 Too Many Requests\r\n") +
      "Server: herald\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  auto shared = std::make_shared<tcp::socket>(std::move(socket));
  asio::async_write(*shared, asio::buffer(*answer), [shared, answer](error_code, std::size_t) {
    error_code ignored;
    shared->shutdown(tcp::socket::shutdown_send, ignored);
    shared->close(ignored);
  });
}
}  // namespace

Listener::Listener(EventLoops& loops, ServerContext& context, const tcp::endpoint& endpoint)
    : loops_(loops), context_(context), acceptor_(loops.context(0)), pause_(loops.context(0)) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::accept() {
  std::size_t loop = next_loop_;
  next_loop_ = (next_loop_ + 1) % loops_.size();
  acceptor_.async_accept(loops_.context(loop), [self = shared_from_this(), loop](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: the failed connection stays in the backlog, so accepting
      // again at once would spin. Say so and pause.
      spdlog::warn("listener: accept failed: {}; pausing {} ms", ec.message(), accept_pause.count());
      self->pause_.expires_after(accept_pause);
      self->pause_.async_wait([self](error_code wait_error) {
        if (!wait_error) self->accept();
      });
      return;
    }
    socket.set_option(tcp::no_delay(true), ec);
    std::shared_ptr<void> ticket;
    if (self->context_.gate) {
      auto address = plain_address(socket.remote_endpoint(ec));
      // A trusted proxy's connection carries many clients: each is admitted as its requests name it.
      bool proxy = self->context_.trust != nullptr && self->context_.trust->is_proxy(address);
      auto admitted = self->context_.gate->admit(proxy ? std::string() : address.to_string());
      if (auto* refusal = std::get_if<Error>(&admitted)) {
        // A TLS client could not read a plain answer, and a handshake is what an overload cannot afford.
        if (self->context_.tls == nullptr) refuse(std::move(socket), *refusal);
        return self->accept();
      }
      ticket = std::get<std::shared_ptr<void>>(std::move(admitted));
    }
    // Every operation on a connection runs on the loop that owns it, the first read included.
    if (self->context_.tls != nullptr) {
      self->start_tls(std::move(socket), loop, std::move(ticket));
    } else {
      auto session = std::make_shared<HttpSession>(NetStream(beast::tcp_stream(std::move(socket))), self->context_,
                                                   self->loops_.hub(loop));
      session->hold(std::move(ticket));
      asio::post(self->loops_.context(loop), [session] { session->start(); });
    }
    self->accept();
  });
}

// The TLS handshake comes before the first request, under the same deadline (a client that stalls in
// the handshake is cut like a slowloris); the session then runs exactly as on plain TCP.
void Listener::start_tls(tcp::socket socket, std::size_t loop, std::shared_ptr<void> ticket) {
  auto stream = std::make_shared<NetStream>(beast::tcp_stream(std::move(socket)), *context_.tls);
  asio::post(loops_.context(loop), [self = shared_from_this(), stream, loop, ticket = std::move(ticket)]() mutable {
    stream->tcp().expires_after(std::chrono::seconds(self->context_.config.limits.request_timeout_seconds));
    stream->async_handshake([self, stream, loop, ticket = std::move(ticket)](error_code ec) mutable {
      if (ec) {
        spdlog::debug("tls: handshake failed: {}", ec.message());
        return;  // the stream, and with it the socket, goes away here
      }
      auto session = std::make_shared<HttpSession>(std::move(*stream), self->context_, self->loops_.hub(loop));
      session->hold(std::move(ticket));
      session->start();
    });
  });
}

void Listener::stop() {
  error_code ec;
  acceptor_.close(ec);
  pause_.cancel();
}

}  // namespace herald

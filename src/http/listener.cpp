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
      auto admitted = self->context_.gate->admit(plain_address(socket.remote_endpoint(ec)).to_string());
      if (auto* refusal = std::get_if<Error>(&admitted)) {
        refuse(std::move(socket), *refusal);
        return self->accept();
      }
      ticket = std::get<std::shared_ptr<void>>(std::move(admitted));
    }
    auto session = std::make_shared<HttpSession>(std::move(socket), self->context_, self->loops_.hub(loop));
    session->hold(std::move(ticket));
    // Every operation on a connection runs on the loop that owns it, the first read included.
    asio::post(self->loops_.context(loop), [session] { session->start(); });
    self->accept();
  });
}

void Listener::stop() {
  error_code ec;
  acceptor_.close(ec);
  pause_.cancel();
}

}  // namespace herald

#include "http/listener.hpp"

#include <spdlog/spdlog.h>

#include "http/http_session.hpp"

namespace herald {

Listener::Listener(EventLoops& loops, ServerContext& context, const tcp::endpoint& endpoint)
    : loops_(loops), context_(context), acceptor_(loops.context(0)) {
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
      // Out of file descriptors and the like: say so, and keep accepting.
      spdlog::warn("listener: accept failed: {}", ec.message());
    } else {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<HttpSession>(std::move(socket), self->context_, self->loops_.hub(loop))->start();
    }
    self->accept();
  });
}

void Listener::stop() {
  error_code ec;
  acceptor_.close(ec);
}

}  // namespace herald

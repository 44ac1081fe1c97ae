#pragma once
// A server connection, plain TCP or TLS, behind one type, so the HTTP session and every transport run
// the same code whether herald terminates TLS itself or not ([tls] in docs/config.md). Deadlines and
// socket options go to the TCP stream underneath; TLS records are read and written through it, so a
// deadline covers the TLS handshake and every TLS read and write too.
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <optional>

#include "http/beast.hpp"

namespace herald {

namespace ssl = asio::ssl;

class NetStream {
 public:
  using executor_type = beast::tcp_stream::executor_type;

  explicit NetStream(beast::tcp_stream tcp) : plain_(std::move(tcp)) {}
  NetStream(beast::tcp_stream tcp, ssl::context& tls) : tls_(std::in_place, std::move(tcp), tls) {}

  executor_type get_executor() { return tcp().get_executor(); }
  beast::tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *plain_; }
  tcp::socket& socket() { return tcp().socket(); }
  bool secure() const { return tls_.has_value(); }
  beast::ssl_stream<beast::tcp_stream>& tls() { return *tls_; }

  // Beast's composed operations hand these their own handlers, so both branches return void.
  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<Handler>(handler));
    plain_->async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<Handler>(handler));
    plain_->async_write_some(buffers, std::forward<Handler>(handler));
  }

  // The server side of the TLS handshake (TLS connections only).
  template <class Handler>
  void async_handshake(Handler&& handler) {
    tls_->async_handshake(ssl::stream_base::server, std::forward<Handler>(handler));
  }

  // What Beast's WebSocket calls to drop the connection at once.
  friend void beast_close_socket(NetStream& stream) {
    error_code ignored;
    stream.socket().close(ignored);
  }

 private:
  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
};

// How a WebSocket over a NetStream says goodbye: a TLS close_notify first when it is TLS.
// (Unqualified calls: Beast declares the ssl_stream overloads beside ssl_stream, found by ADL.)
inline void teardown(beast::role_type role, NetStream& stream, error_code& ec) {
  using websocket::teardown;
  if (stream.secure()) return teardown(role, stream.tls(), ec);
  teardown(role, stream.socket(), ec);
}

template <class Handler>
void async_teardown(beast::role_type role, NetStream& stream, Handler&& handler) {
  using websocket::async_teardown;
  if (stream.secure()) return async_teardown(role, stream.tls(), std::forward<Handler>(handler));
  async_teardown(role, stream.socket(), std::forward<Handler>(handler));
}

}  // namespace herald

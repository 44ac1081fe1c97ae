#pragma once
// A server connection, plain TCP or TLS, behind one type, so the HTTP session and every transport run
// the same code whether herald terminates TLS itself or not ([tls] in docs/config.md). Deadlines and
// socket options go to the TCP stream underneath; TLS records are read and written through it, so a
// deadline covers the TLS handshake and every TLS read and write too.
#include <algorithm>
#include <array>
#include <boost/asio/compose.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "runtime/beast.hpp"

namespace herald {

namespace ssl = asio::ssl;

// How much, and how long, a connection that herald closes first reads on what its client still sends
// (limits.lingering_close_bytes and _seconds). Closing a socket with unread data makes the kernel
// answer with a reset, and a reset destroys the answer or close frame still on its way to the client:
// a 413 during an upload, a 1009 for an oversized WebSocket message.
struct Lingering {
  std::size_t bytes = 0;
  std::chrono::seconds time{0};
};

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

  const Lingering& lingering() const { return lingering_; }
  void linger_with(Lingering lingering) { lingering_ = lingering; }

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
  Lingering lingering_;
};

// Writes as much of `buffers` as the kernel takes now, without waiting (the socket is made non-blocking),
// and leaves in `buffers` what it did not take; returns the bytes written. A socket whose send buffer has
// room takes everything here, so the caller begins no asynchronous write at all (nginx and uWebSockets
// write the same way). `ec` is set only on a real failure, never for a full send buffer. Plain TCP only:
// TLS must encrypt first, which its stream's own write does.
inline std::size_t write_now(tcp::socket& socket, std::vector<asio::const_buffer>& buffers, error_code& ec) {
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  std::size_t written = 0;
  std::size_t done = 0;  // buffers written whole
  while (!ec && done < buffers.size()) {
    // One sendmsg takes at most 64 buffers (Asio's limit): a longer queue takes a few.
    std::size_t n =
        socket.write_some(std::span<const asio::const_buffer>(buffers.data() + done, buffers.size() - done), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      ec = {};
      break;
    }
    written += n;
    while (done < buffers.size() && buffers[done].size() <= n) n -= buffers[done++].size();
    if (n > 0) {
      buffers[done] += n;  // the kernel stopped inside this one: it is full
      break;
    }
  }
  buffers.erase(buffers.begin(), buffers.begin() + static_cast<std::ptrdiff_t>(done));
  return written;
}

// Herald's lingering close: stop sending (what was written still goes out), then read and discard what
// the peer sends until it closes, or the stream's lingering bytes or time are spent, then close the
// socket. Under TLS the bytes are discarded as they come, undecrypted. Completes with no error.
namespace detail {
struct LingerOp {
  NetStream& stream;
  std::size_t left;
  std::unique_ptr<std::array<char, 8192>> scratch;  // only while lingering, never per connection
  enum class Step { start, reading, done } step = Step::start;

  template <class Self>
  void operator()(Self& self, error_code ec = {}, std::size_t n = 0) {
    switch (step) {
      case Step::start:
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
        if (ec || left == 0 || stream.lingering().time.count() == 0) {
          step = Step::done;  // completes from the executor, never inside the call that started it
          return asio::post(stream.get_executor(), std::move(self));
        }
        stream.tcp().expires_after(stream.lingering().time);
        step = Step::reading;
        break;
      case Step::reading:
        // Closed by the peer, out of time (the stream closes itself), failed, or enough read.
        if (ec || n >= left) {
          step = Step::done;
          break;
        }
        left -= n;
        break;
      case Step::done:
        break;
    }
    if (step == Step::done) {
      stream.tcp().expires_never();
      stream.socket().close(ec);
      return self.complete(error_code{});
    }
    if (!scratch) scratch = std::make_unique<std::array<char, 8192>>();
    stream.tcp().async_read_some(asio::buffer(scratch->data(), std::min(left, scratch->size())), std::move(self));
  }
};
}  // namespace detail

template <class Handler>
auto async_linger(NetStream& stream, Handler&& handler) {
  return asio::async_compose<Handler, void(error_code)>(detail::LingerOp{stream, stream.lingering().bytes, nullptr},
                                                        handler, stream.tcp());
}

// How a WebSocket over a NetStream says goodbye: a TLS close_notify first when it is TLS.
// (Unqualified calls: Beast declares the ssl_stream overloads beside ssl_stream, found by ADL.)
inline void teardown(beast::role_type role, NetStream& stream, error_code& ec) {
  using websocket::teardown;
  if (stream.secure()) return teardown(role, stream.tls(), ec);
  teardown(role, stream.socket(), ec);
}

// The server side lingers (above), on TLS too, where it drops the close_notify exchange as the HTTP
// session does: the WebSocket close frame already ends the conversation, and Beast's own teardowns lose
// it to a reset when the client is still sending: the TCP one stops reading after its first 2 KiB, and
// over TLS the close_notify exchange ended the same way (a 4 MB message got 1006, not 1009, either way).
template <class Handler>
void async_teardown(beast::role_type role, NetStream& stream, Handler&& handler) {
  using websocket::async_teardown;
  if (role == beast::role_type::server) return async_linger(stream, std::forward<Handler>(handler));
  if (stream.secure()) return async_teardown(role, stream.tls(), std::forward<Handler>(handler));
  async_teardown(role, stream.socket(), std::forward<Handler>(handler));
}

}  // namespace herald

#pragma once
// The layer under Beast's WebSocket stream. Reads pass straight through to the connection. Writes — the
// handshake's answer, and, once the connection is open, Beast's control frames (pong, ping, close) — go
// into the connection's queue once route_writes() has been called, behind the data frames already in it,
// so Beast's frames and herald's pre-built data frames (transport/ws_frames) never interleave on the
// socket: one writer, one order. The teardown Beast ends a connection with waits until that queue has
// been written, then closes the way a NetStream does (lingering on a client still sending).
#include <functional>
#include <memory>
#include <string>

#include "http/net_stream.hpp"

namespace herald {

class WsLayer {
 public:
  using executor_type = NetStream::executor_type;
  // Takes a write of Beast's into the connection's queue; false when the queue has no room.
  using Sink = std::function<bool(std::string)>;
  // Runs `then` once everything queued has been written.
  using AfterWritten = std::function<void(std::function<void()> then)>;

  explicit WsLayer(NetStream stream) : net_(std::move(stream)) {}

  executor_type get_executor() { return net_.get_executor(); }
  NetStream& net() { return net_; }
  void route_writes(Sink sink, AfterWritten after_written) {
    sink_ = std::move(sink);
    after_written_ = std::move(after_written);
  }

  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    net_.async_read_some(buffers, std::forward<Handler>(handler));
  }

  template <class Buffers, class Handler>
  void async_write_some(const Buffers& buffers, Handler&& handler) {
    if (!sink_) return net_.async_write_some(buffers, std::forward<Handler>(handler));
    std::string bytes(asio::buffer_size(buffers), '\0');
    asio::buffer_copy(asio::buffer(bytes), buffers);
    const std::size_t size = bytes.size();
    error_code ec;
    if (!sink_(std::move(bytes))) ec = asio::error::no_buffer_space;
    // Taken (queued behind what is already there): complete, never inside the call that started it.
    asio::post(get_executor(), [handler = std::forward<Handler>(handler), ec, size]() mutable {
      std::move(handler)(ec, ec ? 0 : size);
    });
  }

  friend void beast_close_socket(WsLayer& layer) { beast_close_socket(layer.net_); }

  friend void teardown(beast::role_type role, WsLayer& layer, error_code& ec) { teardown(role, layer.net_, ec); }

  template <class Handler>
  friend void async_teardown(beast::role_type role, WsLayer& layer, Handler&& handler) {
    if (!layer.after_written_) return async_teardown(role, layer.net_, std::forward<Handler>(handler));
    auto held = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
    layer.after_written_([&layer, role, held] { async_teardown(role, layer.net_, std::move(*held)); });
  }

 private:
  NetStream net_;
  Sink sink_;
  AfterWritten after_written_;
};

}  // namespace herald

// herald-bench's subscribers: one coroutine per connection, per transport (WebSocket, SSE, long and
// interval polls, and the login screens of login-storm), each counting and timing what it is delivered.
#include "subscribers.hpp"

#include <netinet/in.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <stdexcept>

namespace herald::bench {

using asio::awaitable;
using asio::use_awaitable;

Endpoint parse_url(const std::string& url) {
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return {rest, "80"};
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

std::string host_header(const Context& context) { return context.endpoint.host + ":" + context.endpoint.port; }

namespace {
void on_text(Context& context, Subscriber& sub, std::string_view text) {
  const int64_t now = now_micros();
  if (context.options.login_storm) {
    // A login screen wakes on its one `approved` event: sequence 0, timed from the approval request.
    if (text.find("\"approved\"") == std::string_view::npos) return;
    sub.loop->latency.record(now - sub.approved_at_us.load(std::memory_order_relaxed));
    if (sub.sequence.on_delivery(0) != SequenceTracker::Outcome::kDuplicate) {
      context.shared.delivered.fetch_add(1, std::memory_order_relaxed);
    }
    context.shared.last_delivery_us.store(now, std::memory_order_relaxed);
    return;
  }
  scan_payloads(text, [&](uint64_t seq, int64_t sent) {
    sub.loop->latency.record(now - sent);
    if (sub.sequence.on_delivery(seq) != SequenceTracker::Outcome::kDuplicate) {
      context.shared.delivered.fetch_add(1, std::memory_order_relaxed);
    }
  });
  context.shared.last_delivery_us.store(now, std::memory_order_relaxed);
}

void mark_ready(Context& context, Subscriber& sub) {
  if (sub.ready) return;
  sub.ready = true;
  sub.loop->connecting--;
  context.shared.ready.fetch_add(1, std::memory_order_relaxed);
}

awaitable<beast::tcp_stream> connect(Context& context, Subscriber& sub) {
  tcp::socket socket(co_await asio::this_coro::executor);
  socket.open(context.server.protocol());
  const auto& sources = context.options.sources;
  if (!sources.empty()) {
#ifdef IP_BIND_ADDRESS_NO_PORT
    // Let connect() pick the port, so each source address has its own 28k ephemeral ports per server port.
    const int on = 1;
    ::setsockopt(socket.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &on, sizeof(on));
#endif
    socket.bind(tcp::endpoint(asio::ip::make_address(sources[sub.index % sources.size()]), 0));
  }
  co_await socket.async_connect(context.server, use_awaitable);
  socket.set_option(tcp::no_delay(true));
  sub.fd = socket.native_handle();
  co_return beast::tcp_stream(std::move(socket));
}

void note_closed(Subscriber& sub) {
  const int fd = sub.fd.exchange(-1);
  if (fd < 0) return;
  const SocketBytes bytes = socket_bytes(fd);
  sub.closed_bytes.sent += bytes.sent;
  sub.closed_bytes.received += bytes.received;
}

std::string subscribe_path(const Context& context, const Subscriber& sub) {
  const std::string& target = context.options.target;
  const std::string& transport = context.options.transport;
  std::string channel = context.channel(sub.channel);
  if (context.options.login_storm) return "/login/events";
  if (target == "socketio") return "/socket.io/?EIO=4&transport=websocket";
  if (target == "nchan" && transport == "poll") return "/isub/" + channel;
  return "/sub/" + channel;
}

// login-storm: a screen starts its login request on the connection it will listen on.
awaitable<void> start_login(Context& context, Subscriber& sub, beast::tcp_stream& stream) {
  http::request<http::string_body> request(http::verb::post, "/login/start", 11);
  request.set(http::field::host, host_header(context));
  request.prepare_payload();
  co_await http::async_write(stream, request, use_awaitable);
  beast::flat_buffer buffer;
  http::response<http::string_body> response;
  co_await http::async_read(stream, buffer, response, use_awaitable);
  if (response.result_int() != 201) {
    throw std::runtime_error("login start answered " + std::to_string(response.result_int()) + ": " + response.body());
  }
  const std::string set_cookie(response[http::field::set_cookie]);
  sub.cookie = set_cookie.substr(0, set_cookie.find(';'));
  const std::string& body = response.body();
  const size_t at = body.find("\"id\":\"");
  if (at == std::string::npos) throw std::runtime_error("login start: no id in " + body);
  sub.login_id = body.substr(at + 6, body.find('"', at + 6) - (at + 6));
}

awaitable<void> websocket_subscriber(Context& context, Subscriber& sub) {
  beast::tcp_stream stream = co_await connect(context, sub);
  if (context.options.login_storm) {
    co_await start_login(context, sub, stream);
  }
  websocket::stream<beast::tcp_stream> ws(std::move(stream));
  if (context.options.login_storm) {
    ws.set_option(websocket::stream_base::decorator([&](websocket::request_type& request) {
      request.set(http::field::cookie, sub.cookie);
      request.set(http::field::origin, "http://" + host_header(context));
    }));
  }
  ws.read_message_max(1 << 20);
  if (context.options.deflate) {
    websocket::permessage_deflate deflate;
    deflate.client_enable = true;
    ws.set_option(deflate);
  }
  co_await ws.async_handshake(host_header(context), subscribe_path(context, sub), use_awaitable);
  beast::flat_buffer buffer;
  const bool socketio = context.options.target == "socketio";
  if (socketio) {
    // Engine.IO v4: the server opens with `0{...}`, the client joins the default namespace with `40`, the
    // server confirms with `40{...}`; then our peer script's `join` event puts the socket in a room.
    co_await ws.async_read(buffer, use_awaitable);
    buffer.clear();
    co_await ws.async_write(asio::buffer(std::string("40")), use_awaitable);
    co_await ws.async_read(buffer, use_awaitable);
    buffer.clear();
    const std::string join = "42[\"join\",\"" + context.channel(sub.channel) + "\"]";
    co_await ws.async_write(asio::buffer(join), use_awaitable);
  }
  mark_ready(context, sub);
  for (;;) {
    co_await ws.async_read(buffer, use_awaitable);
    const std::string_view text(static_cast<const char*>(buffer.data().data()), buffer.size());
    if (socketio && text == "2") {
      co_await ws.async_write(asio::buffer(std::string("3")), use_awaitable);  // Engine.IO ping -> pong
    } else {
      on_text(context, sub, text);
    }
    buffer.clear();
  }
}

awaitable<void> sse_subscriber(Context& context, Subscriber& sub) {
  beast::tcp_stream stream = co_await connect(context, sub);
  if (context.options.login_storm) {
    co_await start_login(context, sub, stream);
  }
  http::request<http::empty_body> request(http::verb::get, subscribe_path(context, sub), 11);
  request.set(http::field::host, host_header(context));
  request.set(http::field::accept, "text/event-stream");
  if (!sub.cookie.empty()) request.set(http::field::cookie, sub.cookie);
  co_await http::async_write(stream, request, use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  co_await http::async_read_header(stream, buffer, parser, use_awaitable);
  if (parser.get().result() != http::status::ok) {
    throw std::runtime_error("SSE answered " + std::to_string(parser.get().result_int()));
  }
  mark_ready(context, sub);
  std::string pending;
  char chunk[16384];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    auto [ec, n] = co_await http::async_read_some(stream, buffer, parser, asio::as_tuple(use_awaitable));
    if (ec && ec != http::error::need_buffer) throw boost::system::system_error(ec);
    pending.append(chunk, sizeof(chunk) - parser.get().body().size);
    // Only whole events are scanned: a payload split across two reads must not be half-seen.
    const size_t end = pending.rfind("\n\n");
    if (end != std::string::npos) {
      on_text(context, sub, std::string_view(pending).substr(0, end));
      pending.erase(0, end + 2);
    }
  }
}

// Interval and long polls. herald hands the next cursor in `Herald-Cursor`; Nchan in Last-Modified and
// Etag, sent back as If-Modified-Since and If-None-Match.
awaitable<void> poll_subscriber(Context& context, Subscriber& sub) {
  const Options& options = context.options;
  const bool longpoll = options.transport == "longpoll";
  const bool herald = options.target == "herald";
  std::string cursor, last_modified, etag;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  while (!context.shared.stopping.load(std::memory_order_relaxed)) {
    if (!stream) {
      stream = std::make_unique<beast::tcp_stream>(co_await connect(context, sub));
      if (options.login_storm && sub.login_id.empty()) {
        co_await start_login(context, sub, *stream);
      }
    }
    std::string target = subscribe_path(context, sub);
    if (herald) {
      std::string query;
      if (longpoll) query += "wait=" + std::to_string(options.longpoll_wait);
      if (!cursor.empty()) query += (query.empty() ? "" : "&") + std::string("since=") + cursor;
      if (!query.empty()) target += "?" + query;
    }
    http::request<http::empty_body> request(http::verb::get, target, 11);
    request.set(http::field::host, host_header(context));
    if (!last_modified.empty()) request.set(http::field::if_modified_since, last_modified);
    if (!etag.empty()) request.set(http::field::if_none_match, etag);
    if (!sub.cookie.empty()) request.set(http::field::cookie, sub.cookie);
    auto [write_error, written] = co_await http::async_write(*stream, request, asio::as_tuple(use_awaitable));
    if (context.shared.measuring.load(std::memory_order_relaxed)) {
      context.shared.requests.fetch_add(1, std::memory_order_relaxed);
    }
    // A long poll counts as ready once it is sent (the barrier then waits for the server to hold it); an
    // interval poll once its first answer has handed it a cursor.
    if (longpoll && !write_error) mark_ready(context, sub);
    http::response<http::string_body> response;
    auto [read_error, read] = write_error
                                  ? std::tuple{write_error, size_t{0}}
                                  : co_await http::async_read(*stream, buffer, response, asio::as_tuple(use_awaitable));
    if (read_error) {
      // The server closed an idle keep-alive connection: open a new one and go on from the same cursor.
      note_closed(sub);
      stream.reset();
      buffer.clear();
      if (read_error != http::error::end_of_stream && read_error != asio::error::connection_reset &&
          read_error != asio::error::broken_pipe) {
        throw boost::system::system_error(read_error);
      }
      continue;
    }
    const auto status = response.result_int();
    if (status == 200) on_text(context, sub, response.body());
    if (status != 200 && status != 204 && status != 304 && status != 408) {
      throw std::runtime_error("poll answered " + std::to_string(status));
    }
    if (auto it = response.find("Herald-Cursor"); it != response.end()) cursor = std::string(it->value());
    if (auto it = response.find(http::field::last_modified); it != response.end()) {
      last_modified = std::string(it->value());
    }
    if (auto it = response.find(http::field::etag); it != response.end()) etag = std::string(it->value());
    if (!longpoll) mark_ready(context, sub);
    if (!response.keep_alive()) {
      note_closed(sub);
      stream.reset();
    }
    // herald says when a batch was cut; Nchan's interval poll answers one message at a time, so a client
    // that got one asks again at once rather than waiting out the interval.
    const bool more = status == 200 && (!herald || response.body().find("\"more\":true") != std::string::npos);
    if (!longpoll && !more) {
      timer.expires_after(std::chrono::microseconds(static_cast<int64_t>(options.poll_interval * 1e6)));
      co_await timer.async_wait(use_awaitable);
    }
  }
}

awaitable<void> subscriber(Context& context, Subscriber& sub) {
  try {
    const std::string& transport = context.options.transport;
    if (transport == "ws") {
      co_await websocket_subscriber(context, sub);
    } else if (transport == "sse") {
      co_await sse_subscriber(context, sub);
    } else {
      co_await poll_subscriber(context, sub);
    }
  } catch (const std::exception& e) {
    if (!context.shared.stopping.load()) {
      context.shared.failed.fetch_add(1);
      context.shared.error("subscriber " + std::to_string(sub.index) + ": " + e.what());
      if (!sub.ready) sub.loop->connecting--;
    }
  }
}
}  // namespace

awaitable<void> open_all(Context& context, Loop& loop, std::vector<Subscriber*> subs) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (Subscriber* sub : subs) {
    while (loop.connecting >= context.options.connect_concurrency) {
      timer.expires_after(std::chrono::milliseconds(1));
      co_await timer.async_wait(use_awaitable);
    }
    loop.connecting++;
    asio::co_spawn(loop.io, subscriber(context, *sub), asio::detached);
  }
}

}  // namespace herald::bench

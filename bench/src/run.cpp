// herald-bench's network side: one event loop per thread, each driving thousands of subscriber
// coroutines, and a publisher on its own loop. This is the only translation unit that includes Asio and
// Beast; their implementation comes compiled from herald_runtime (src/runtime/asio_impl.cpp).
#include "run.hpp"

#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "proc_stats.hpp"
#include "runtime/beast.hpp"
#include "tracking.hpp"

namespace herald::bench {

namespace {
using asio::awaitable;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;

int64_t now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct Endpoint {
  std::string host;
  std::string port;
};
Endpoint parse_url(const std::string& url) {
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) return {rest, "80"};
  return {rest.substr(0, colon), rest.substr(colon + 1)};
}

// Counters shared by every loop; plain relaxed atomics, read by the main thread for progress and drain.
struct Shared {
  std::atomic<bool> measuring{false};
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> delivered{0};  // first deliveries (not duplicates)
  std::atomic<int64_t> last_delivery_us{0};
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::atomic<uint64_t> requests{0};
  std::mutex error_mutex;
  std::string first_error;
  void error(const std::string& what) {
    std::lock_guard lock(error_mutex);
    if (first_error.empty()) first_error = what;
  }
};

struct Loop;
struct Subscriber {
  int index = 0;
  int channel = 0;
  Loop* loop = nullptr;
  SequenceTracker sequence;
  std::atomic<int> fd{-1};
  SocketBytes closed_bytes;  // bytes of connections already closed (a poller that had to reconnect)
  bool ready = false;
  // login-storm: the screen's login request, its cookie, and when its approval was sent.
  std::string login_id;
  std::string cookie;
  std::atomic<int64_t> approved_at_us{0};
};

struct Loop {
  asio::io_context io{1};
  LatencyHistogram latency;
  int connecting = 0;
};

struct Context {
  Options options;
  Endpoint endpoint;
  tcp::endpoint server;
  Shared shared;
  std::string prefix;
  std::string channel(int n) const { return prefix + "-" + std::to_string(n); }
};

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

std::string host_header(const Context& context) { return context.endpoint.host + ":" + context.endpoint.port; }

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
  if (context.options.login_storm) co_await start_login(context, sub, stream);
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
  if (context.options.login_storm) co_await start_login(context, sub, stream);
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
      if (options.login_storm && sub.login_id.empty()) co_await start_login(context, sub, *stream);
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

// Opens this loop's subscribers, at most `connect_concurrency` handshakes at a time.
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

// A plain HTTP/1.1 client on one keep-alive connection: publishes and channel-info queries.
struct HttpClient {
  Context& context;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  awaitable<http::response<http::string_body>> send(http::request<http::string_body> request) {
    request.set(http::field::host, host_header(context));
    request.prepare_payload();
    for (int attempt = 0;; attempt++) {
      if (!stream) {
        tcp::socket socket(co_await asio::this_coro::executor);
        co_await socket.async_connect(context.server, use_awaitable);
        socket.set_option(tcp::no_delay(true));
        stream.emplace(std::move(socket));
        buffer.clear();
      }
      http::response<http::string_body> response;
      auto [write_error, w] = co_await http::async_write(*stream, request, asio::as_tuple(use_awaitable));
      auto [read_error, r] = write_error
                                 ? std::tuple{write_error, size_t{0}}
                                 : co_await http::async_read(*stream, buffer, response, asio::as_tuple(use_awaitable));
      if (!read_error) {
        if (!response.keep_alive()) stream.reset();
        co_return response;
      }
      stream.reset();
      // Only a reused connection the server had closed is retried; anything else is an error.
      if (attempt > 0) throw boost::system::system_error(read_error);
    }
  }
};

struct PublishState {
  std::vector<uint64_t> published;  // per channel, accepted by the server
  uint64_t errors = 0;
  int64_t max_behind_us = 0;  // how far the publisher fell behind its schedule
  Clock::time_point start;
};

awaitable<void> publisher(Context& context, PublishState& state, int worker, uint64_t total,
                          std::vector<Subscriber>& subs) {
  const Options& options = context.options;
  HttpClient client{context, {}, {}};
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (uint64_t i = static_cast<uint64_t>(worker); i < total; i += static_cast<uint64_t>(options.publishers)) {
    const auto due =
        state.start + std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(i) * 1e6 / options.rate));
    timer.expires_at(due);
    co_await timer.async_wait(use_awaitable);
    state.max_behind_us = std::max<int64_t>(
        state.max_behind_us, std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - due).count());
    const int channel = static_cast<int>(i % static_cast<uint64_t>(options.channels));
    const uint64_t seq = i / static_cast<uint64_t>(options.channels);
    http::request<http::string_body> request(http::verb::post, "/pub/" + context.channel(channel), 11);
    request.set(http::field::content_type, "application/json");
    if (!options.publish_key.empty()) request.set(http::field::authorization, "Bearer " + options.publish_key);
    if (options.login_storm) {
      // login-storm: each "channel" is one screen, approved once, with the key an app server holds.
      Subscriber& screen = subs[static_cast<size_t>(channel)];
      if (!screen.ready || screen.login_id.empty()) continue;
      request.target("/api/login/approve");
      request.body() = "{\"user\":\"u1\",\"id\":\"" + screen.login_id + "\"}";
      screen.approved_at_us = now_micros();
    } else {
      request.body() = make_payload(seq, now_micros(), options.pad, options.pad_words);
    }
    try {
      auto response = co_await client.send(std::move(request));
      if (response.result_int() / 100 == 2) {
        state.published[static_cast<size_t>(channel)]++;
      } else {
        state.errors++;
        context.shared.error("publish answered " + std::to_string(response.result_int()) + ": " + response.body());
      }
    } catch (const std::exception& e) {
      state.errors++;
      context.shared.error(std::string("publish: ") + e.what());
    }
  }
}

// How many subscribers the server counts on `channel` (-1 when it cannot say).
awaitable<int64_t> server_count(Context& context, HttpClient& client, int channel) {
  const std::string path = (context.options.target == "herald" ? "/channels/" : "/pub/") + context.channel(channel);
  http::request<http::string_body> request(http::verb::get, path, 11);
  request.set(http::field::accept, "application/json");
  auto response = co_await client.send(std::move(request));
  co_return parse_subscriber_count(response.body());
}

// Waits until the server counts every subscriber on a sample of channels (all of them up to 50), so no
// publish goes out before the subscriptions it should reach exist.
awaitable<bool> barrier(Context& context, std::vector<int> expected, double timeout) {
  HttpClient client{context, {}, {}};
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const int channels = context.options.channels;
  const int step = std::max(1, channels / 50);
  const auto start = Clock::now();
  for (int channel = 0; channel < channels; channel += step) {
    for (;;) {
      const int64_t count = co_await server_count(context, client, channel);
      if (count >= expected[static_cast<size_t>(channel)]) break;
      if (seconds_since(start) > timeout) {
        context.shared.error("barrier: channel " + context.channel(channel) + " counts " + std::to_string(count) +
                             " of " + std::to_string(expected[static_cast<size_t>(channel)]));
        co_return false;
      }
      timer.expires_after(std::chrono::milliseconds(100));
      co_await timer.async_wait(use_awaitable);
    }
  }
  co_return true;
}

template <typename T>
T run_on_own_loop(awaitable<T> work) {
  asio::io_context io{1};
  auto future = asio::co_spawn(io, std::move(work), asio::use_future);
  io.run();
  return future.get();
}

struct Result {
  std::vector<std::pair<std::string, std::string>> fields;
  template <typename T>
  void add(const std::string& name, T value) {
    std::ostringstream out;
    out.precision(6);
    out << value;
    fields.emplace_back(name, out.str());
  }
};

void emit(const Options& options, const Result& result) {
  std::string header, row;
  for (const auto& [name, value] : result.fields) {
    header += (header.empty() ? "" : ",") + name;
    row += (row.empty() ? "" : ",") + value;
  }
  std::cout << header << "\n" << row << std::endl;
  if (!options.csv.empty()) {
    const bool fresh = !std::ifstream(options.csv).good();
    std::ofstream out(options.csv, std::ios::app);
    if (fresh) out << header << "\n";
    out << row << "\n";
  }
  for (const auto& [name, value] : result.fields) std::cerr << "  " << name << " = " << value << "\n";
}
}  // namespace

int run(const Options& options) {
  auto context_owner = std::make_unique<Context>();
  Context& context = *context_owner;
  context.options = options;
  context.endpoint = parse_url(options.url);
  context.server = tcp::endpoint(asio::ip::make_address(context.endpoint.host),
                                 static_cast<unsigned short>(std::stoi(context.endpoint.port)));
  context.prefix = options.channel_prefix.empty()
                       ? "bench-" + std::to_string(getpid()) + "-" + std::to_string(now_micros() / 1000)
                       : options.channel_prefix;
  Shared& shared = context.shared;

  // A watchdog: whatever happens, the run ends by itself.
  const double budget =
      options.connect_timeout + 30 + options.duration * 2 + options.drain + options.settle + options.hold + 60;
  std::thread([budget] {
    std::this_thread::sleep_for(std::chrono::duration<double>(budget));
    std::cerr << "herald-bench: run exceeded " << budget << " s, giving up\n";
    std::_Exit(2);
  }).detach();

  const ProcSample before_connect = sample_processes(options.pids);

  // Subscribers, spread over the loops and channels.
  std::vector<std::unique_ptr<Loop>> loops;
  for (int i = 0; i < std::max(1, options.threads); i++) loops.push_back(std::make_unique<Loop>());
  std::vector<Subscriber> subs(static_cast<size_t>(options.subscribers));
  std::vector<std::vector<Subscriber*>> per_loop(loops.size());
  std::vector<int> expected_per_channel(static_cast<size_t>(options.channels), 0);
  for (size_t i = 0; i < subs.size(); i++) {
    subs[i].index = static_cast<int>(i);
    subs[i].channel = static_cast<int>(i % static_cast<size_t>(options.channels));
    subs[i].loop = loops[i % loops.size()].get();
    per_loop[i % loops.size()].push_back(&subs[i]);
    expected_per_channel[static_cast<size_t>(subs[i].channel)]++;
  }
  std::vector<std::thread> threads;
  for (size_t i = 0; i < loops.size(); i++) {
    asio::co_spawn(loops[i]->io, open_all(context, *loops[i], per_loop[i]), asio::detached);
    threads.emplace_back([&loop = *loops[i]] {
      auto guard = asio::make_work_guard(loop.io);
      loop.io.run();
    });
  }
  auto stop_all = [&] {
    shared.stopping = true;
    for (auto& loop : loops) loop->io.stop();
    for (auto& thread : threads) thread.join();
    threads.clear();
  };

  // Connect phase.
  const auto connect_start = Clock::now();
  auto last_progress = Clock::now();
  while (shared.ready + shared.failed < options.subscribers && seconds_since(connect_start) < options.connect_timeout) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (options.progress && seconds_since(last_progress) >= 5) {
      last_progress = Clock::now();
      std::cerr << "connecting: " << shared.ready << "/" << options.subscribers << " ready, " << shared.failed
                << " failed\n";
    }
  }
  const double connect_seconds = seconds_since(connect_start);
  const int connected = shared.ready.load();
  bool barrier_ok = true;
  if (options.barrier && options.transport != "poll" && connected > 0) {
    if (options.target == "nchan" || options.login_storm) {
      // Nchan's workers learn each other's subscriber counts late, so its count is no barrier; a fresh
      // channel read from its oldest message loses nothing to a subscription that is still settling.
      // A login screen's channel cannot be inspected; its state is kept, so an approval is not missed.
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    } else {
      barrier_ok = run_on_own_loop(barrier(context, expected_per_channel, 30));
    }
  }

  Result result;
  result.add("scenario", options.scenario);
  result.add("target", options.target);
  result.add("transport", options.transport == "poll"
                              ? "poll" + std::to_string(static_cast<int>(options.poll_interval)) + "s"
                              : options.transport);
  result.add("subscribers", options.subscribers);
  result.add("channels", options.channels);
  result.add("rate", options.rate);
  result.add("connected", connected);
  result.add("connect_s", connect_seconds);
  result.add("connects_per_s", connect_seconds > 0 ? connected / connect_seconds : 0);

  if (options.idle) {
    std::this_thread::sleep_for(std::chrono::duration<double>(options.settle));
    const ProcSample idle = sample_processes(options.pids);
    const double per_connection =
        connected > 0
            ? (static_cast<double>(idle.rss_bytes) - static_cast<double>(before_connect.rss_bytes)) / connected
            : 0;
    result.add("rss_before_bytes", before_connect.rss_bytes);
    result.add("rss_idle_bytes", idle.rss_bytes);
    result.add("rss_bytes_per_conn", per_connection);
    result.add("failed", shared.failed.load());
    result.add("error", "\"" + shared.first_error + "\"");
    emit(options, result);
    if (options.hold > 0) std::this_thread::sleep_for(std::chrono::duration<double>(options.hold));
    stop_all();
    return connected == options.subscribers && barrier_ok ? 0 : 1;
  }

  // Measurement window: from the first publish to the last delivery (or the end of the drain).
  auto bytes_now = [&] {
    SocketBytes total = {};
    for (auto& sub : subs) {
      const int fd = sub.fd.load();
      const SocketBytes bytes = fd >= 0 ? socket_bytes(fd) : SocketBytes{};
      total.sent += bytes.sent + sub.closed_bytes.sent;
      total.received += bytes.received + sub.closed_bytes.received;
    }
    return total;
  };
  const SocketBytes bytes_before = bytes_now();
  const ProcSample cpu_before = sample_processes(options.pids);
  shared.measuring = true;
  PublishState publish;
  publish.published.assign(static_cast<size_t>(options.channels), 0);
  const uint64_t total = options.login_storm
                             ? static_cast<uint64_t>(options.subscribers)
                             : std::max<uint64_t>(1, static_cast<uint64_t>(options.rate * options.duration + 0.5));
  asio::io_context publish_io{1};
  publish.start = Clock::now();
  const int64_t window_start_us = now_micros();
  for (int w = 0; w < options.publishers; w++) {
    asio::co_spawn(publish_io, publisher(context, publish, w, total, subs), asio::detached);
  }
  std::thread publish_thread([&] { publish_io.run(); });
  // Progress while publishing: the publisher runs on its own thread; this one only reports.
  while (!publish_io.stopped()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (options.progress && seconds_since(last_progress) >= 5) {
      last_progress = Clock::now();
      std::cerr << "t=" << static_cast<int>(seconds_since(publish.start)) << "s delivered " << shared.delivered
                << ", connected " << shared.ready << ", failed " << shared.failed << "\n";
    }
  }
  publish_thread.join();
  uint64_t expected = 0;
  for (const auto& sub : subs) {
    if (sub.ready) expected += publish.published[static_cast<size_t>(sub.channel)];
  }
  const auto drain_start = Clock::now();
  const double drain = options.drain + (options.transport == "poll" ? options.poll_interval : 0);
  // A saturated server is still delivering, late, when the publisher is done: wait while deliveries keep
  // coming, and stop at `drain` seconds or after a stall (what never arrives then is counted as lost).
  const double stall = 3 + (options.transport == "poll" ? options.poll_interval : 0);
  uint64_t seen = shared.delivered;
  auto last_progress_at = Clock::now();
  while (shared.delivered < expected && seconds_since(drain_start) < drain && seconds_since(last_progress_at) < stall) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (shared.delivered != seen) {
      seen = shared.delivered;
      last_progress_at = Clock::now();
    }
  }
  const ProcSample cpu_after = sample_processes(options.pids);
  const SocketBytes bytes_after = bytes_now();
  shared.measuring = false;
  const int64_t window_end_us = std::max(shared.last_delivery_us.load(), window_start_us + 1);
  stop_all();

  DeliveryCounts counts;
  LatencyHistogram latency;
  for (const auto& sub : subs) {
    if (sub.ready) counts.add(sub.sequence, publish.published[static_cast<size_t>(sub.channel)]);
  }
  for (const auto& loop : loops) latency.merge(loop->latency);
  uint64_t published = 0;
  for (uint64_t n : publish.published) published += n;
  const double window = static_cast<double>(window_end_us - window_start_us) / 1e6;
  const double deliveries = static_cast<double>(counts.received);
  const uint64_t wire = (bytes_after.sent - bytes_before.sent) + (bytes_after.received - bytes_before.received);
  const double cpu = cpu_after.cpu_seconds - cpu_before.cpu_seconds;
  const uint64_t requests = shared.requests.load();
  auto per_delivery = [&](double value) { return deliveries > 0 ? value / deliveries : 0; };

  result.add("published", published);
  result.add("publish_errors", publish.errors);
  result.add("publisher_behind_ms", static_cast<double>(publish.max_behind_us) / 1000);
  result.add("expected", counts.expected);
  result.add("received", counts.received);
  result.add("lost", counts.lost);
  result.add("duplicated", counts.duplicated);
  result.add("out_of_order", counts.out_of_order);
  result.add("window_s", window);
  result.add("deliveries_per_s", deliveries / window);
  result.add("p50_ms", static_cast<double>(latency.percentile(0.50)) / 1000);
  result.add("p90_ms", static_cast<double>(latency.percentile(0.90)) / 1000);
  result.add("p99_ms", static_cast<double>(latency.percentile(0.99)) / 1000);
  result.add("max_ms", static_cast<double>(latency.max()) / 1000);
  result.add("requests", requests);
  result.add("requests_per_s", static_cast<double>(requests) / window);
  result.add("requests_per_delivery", per_delivery(static_cast<double>(requests)));
  result.add("bytes_per_delivery", per_delivery(static_cast<double>(wire)));
  result.add("server_cpu_s", cpu);
  result.add("cpu_us_per_delivery", per_delivery(cpu * 1e6));
  result.add("server_rss_bytes", cpu_after.rss_bytes);
  result.add("failed", shared.failed.load());
  result.add("error", "\"" + shared.first_error + "\"");
  emit(options, result);
  const bool clean = barrier_ok && connected == options.subscribers && counts.lost == 0 && counts.duplicated == 0 &&
                     counts.out_of_order == 0 && publish.errors == 0;
  return clean ? 0 : 1;
}

}  // namespace herald::bench

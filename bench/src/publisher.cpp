// herald-bench's publisher and barrier, each on a plain HTTP/1.1 keep-alive connection to the server.
#include "publisher.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>
#include <stdexcept>
#include <tuple>

namespace herald::bench {

using asio::awaitable;
using asio::use_awaitable;

namespace {
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

// How many subscribers the server counts on `channel` (-1 when it cannot say).
awaitable<int64_t> server_count(Context& context, HttpClient& client, int channel) {
  const std::string path = (context.options.target == "herald" ? "/channels/" : "/pub/") + context.channel(channel);
  http::request<http::string_body> request(http::verb::get, path, 11);
  request.set(http::field::accept, "application/json");
  auto response = co_await client.send(std::move(request));
  co_return parse_subscriber_count(response.body());
}
}  // namespace

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

}  // namespace herald::bench

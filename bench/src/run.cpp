// herald-bench's phases: connect the subscribers (subscribers.cpp), wait until the server counts them,
// publish on a schedule (publisher.cpp), drain the late deliveries, and report.
#include "run.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "proc_stats.hpp"
#include "publisher.hpp"
#include "subscribers.hpp"
#include "tracking.hpp"

namespace herald::bench {

namespace {
template <typename T>
T run_on_own_loop(asio::awaitable<T> work) {
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
  const uint64_t total =
      options.login_storm ? static_cast<uint64_t>(options.subscribers)
                          : std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(options.rate * options.duration)));
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

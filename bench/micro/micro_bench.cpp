// Micro-benchmarks of herald's hot paths, in process (no network): history append and read, the wire
// encodings built once per message, and a hub handing one message to N subscribers.
//   build/bench/herald_micro_bench [--benchmark_filter=Fanout]
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "core/history.hpp"
#include "core/hub.hpp"
#include "core/message.hpp"
#include "core/metrics.hpp"
#include "core/subscriber.hpp"
#include "core/subscriber_counts.hpp"
#include "transport/sse_encoding.hpp"
#include "transport/ws_frames.hpp"

#include <boost/beast/zlib/deflate_stream.hpp>

namespace {
using herald::Cursor;
using herald::History;
using herald::HistoryLimits;
using herald::Message;
using herald::MessagePtr;

const std::string kPayload = R"({"seq":12345,"t":1764086400123456,"text":"a message of a typical size"})";

void HistoryAppend(benchmark::State& state) {
  History history(0x1234567);
  const HistoryLimits limits{.max_messages = static_cast<std::size_t>(state.range(0))};
  const auto now = History::Clock::now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(history.append("news", "", kPayload, true, limits, now));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(HistoryAppend)->Arg(100)->Arg(1000);

// A poller a few messages behind: everything after a cursor near the end of a full history.
void HistoryReadSince(benchmark::State& state) {
  History history(0x1234567);
  const HistoryLimits limits{.max_messages = 1000};
  const auto now = History::Clock::now();
  for (int i = 0; i < 1000; i++) history.append("news", "", kPayload, true, limits, now);
  const auto behind = static_cast<std::uint64_t>(state.range(0));
  const Cursor since{history.id(), history.last_cursor().seq - behind};
  for (auto _ : state) {
    benchmark::DoNotOptimize(history.read({.since = since}, 100));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(HistoryReadSince)->Arg(1)->Arg(10)->Arg(100);

// Each encoding is built once per message and shared: this is its cost for a fresh message.
template <class Encode>
void EncodeWith(benchmark::State& state, Encode encode) {
  for (auto _ : state) {
    Message message("news", Cursor{0x1234567, 42}, 1764086400123, "update", kPayload, true);
    benchmark::DoNotOptimize(encode(message));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK_CAPTURE(EncodeWith, envelope, [](const Message& m) -> const std::string& {
  return m.envelope();
})->Name("EncodeEnvelope");
BENCHMARK_CAPTURE(EncodeWith, ws, [](const Message& m) -> const std::string& {
  return herald::ws::message_frame(m, true);
})->Name("EncodeWsFrame");
BENCHMARK_CAPTURE(EncodeWith, sse, [](const Message& m) -> const std::string& {
  return herald::sse::message_block(m, false);
})->Name("EncodeSseBlock");

BENCHMARK_CAPTURE(EncodeWith, ws_deflate, [](const Message& m) -> const std::string& {
  return herald::ws::deflated_message_frame(m, true, 0);
})->Name("EncodeWsDeflatedFrame");

// What a connection that compresses its own frames (Beast's permessage-deflate, with its default level 8,
// memLevel 4 and context takeover) spends on one message: the cost of every delivery, where herald pays
// EncodeWsDeflatedFrame once per message.
void BeastDeflatePerConnection(benchmark::State& state) {
  namespace zlib = boost::beast::zlib;
  Message message("news", Cursor{0x1234567, 42}, 1764086400123, "update", kPayload, true);
  const std::string& payload = message.envelope();
  zlib::deflate_stream stream;
  stream.reset(8, 15, 4, zlib::Strategy::normal);
  std::string out(payload.size() + 64, '\0');
  for (auto _ : state) {
    zlib::z_params z;
    z.next_in = payload.data();
    z.avail_in = payload.size();
    z.next_out = out.data();
    z.avail_out = out.size();
    boost::beast::error_code ec;
    stream.write(z, zlib::Flush::sync, ec);
    benchmark::DoNotOptimize(z.total_out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BeastDeflatePerConnection);

// A subscriber that only takes the shared message, as a connection does before writing it.
class CountingSubscriber : public herald::Subscriber {
 public:
  herald::Delivery deliver(const MessagePtr& message) override {
    if (cursor_.advance(*message)) {
      held_ = message;
      return herald::Delivery::sent;
    }
    return herald::Delivery::skipped;
  }
  void close(herald::CloseReason) override {}
  herald::Transport transport() const override { return herald::Transport::websocket; }

 private:
  herald::SubscriptionCursor cursor_;
  MessagePtr held_;
};

void FanoutDispatch(benchmark::State& state) {
  herald::SubscriberCounts counts;
  herald::Hub hub(counts);
  std::vector<std::unique_ptr<CountingSubscriber>> subscribers;
  for (int64_t i = 0; i < state.range(0); i++) {
    subscribers.push_back(std::make_unique<CountingSubscriber>());
    hub.subscribe("news", subscribers.back().get());
  }
  std::uint64_t seq = 0;
  for (auto _ : state) {
    auto message = std::make_shared<const Message>("news", Cursor{0x1234567, ++seq}, 1764086400123, "", kPayload, true);
    benchmark::DoNotOptimize(hub.dispatch(message));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));  // deliveries
  for (auto& subscriber : subscribers) hub.unsubscribe("news", subscriber.get());
}
BENCHMARK(FanoutDispatch)->Arg(1)->Arg(100)->Arg(1000)->Arg(10000);

// What a /metrics scrape and a dashboard snapshot cost with many channels listened to: one walk over
// the subscriber counts with a bounded top-10, then the Prometheus text.
void MetricsSnapshotWalk(benchmark::State& state) {
  herald::SubscriberCounts counts;
  herald::Hub hub(counts);
  std::vector<std::unique_ptr<CountingSubscriber>> subscribers;
  for (int64_t i = 0; i < state.range(0); i++) {
    subscribers.push_back(std::make_unique<CountingSubscriber>());
    hub.subscribe("ch" + std::to_string(i), subscribers.back().get());
  }
  for (auto _ : state) {
    herald::MetricsSnapshot snapshot;
    snapshot.add_loop(hub.metrics());
    auto summary = counts.summarize(10);
    snapshot.channels = summary.channels;
    snapshot.busiest = std::move(summary.busiest);
    benchmark::DoNotOptimize(herald::render_prometheus(snapshot));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));  // channels walked
  for (int64_t i = 0; i < state.range(0); i++) hub.unsubscribe("ch" + std::to_string(i), subscribers[i].get());
}
BENCHMARK(MetricsSnapshotWalk)->Arg(1000)->Arg(100000);
}  // namespace

BENCHMARK_MAIN();

// herald-bench: a load generator for herald and the servers it is compared with. One run per process;
// bench/run drives the scenarios. See bench/README.md.
#include <CLI/CLI.hpp>

#include "run.hpp"

int main(int argc, char** argv) {
  herald::bench::Options o;
  CLI::App app{"herald-bench: connect subscribers, publish at a rate, count and time every delivery"};
  app.add_option("--scenario", o.scenario, "label for the CSV row");
  app.add_option("--target", o.target, "protocol adapter")->check(CLI::IsMember({"herald", "nchan", "ws", "socketio"}));
  app.add_option("--url", o.url, "server base URL (http://127.0.0.1:PORT)");
  app.add_option("--transport", o.transport)->check(CLI::IsMember({"ws", "sse", "longpoll", "poll"}));
  app.add_option("--poll-interval", o.poll_interval, "seconds between interval polls");
  app.add_option("--longpoll-wait", o.longpoll_wait, "seconds a long poll may be held");
  app.add_option("-n,--subscribers", o.subscribers)->check(CLI::Range(1, 1000000));
  app.add_option("--channels", o.channels)->check(CLI::Range(1, 1000000));
  app.add_option("--rate", o.rate, "publishes per second over all channels")->check(CLI::PositiveNumber);
  app.add_option("--duration", o.duration, "seconds of publishing")->check(CLI::Range(0.0, 3600.0));
  app.add_option("--publishers", o.publishers, "publishing connections (must divide --channels)")
      ->check(CLI::Range(1, 64));
  app.add_option("--pad", o.pad, "filler bytes per payload");
  app.add_flag("--pad-words", o.pad_words, "filler of words, which compresses about as text does");
  app.add_flag("--deflate", o.deflate, "ws: offer permessage-deflate");
  app.add_option("--threads", o.threads, "subscriber event loops")->check(CLI::Range(1, 64));
  app.add_option("--connect-concurrency", o.connect_concurrency)->check(CLI::Range(1, 100000));
  app.add_option("--pid", o.pids, "server process to sample for CPU and memory (repeatable)");
  app.add_option("--source", o.sources, "local address to connect from (repeatable; round-robin)");
  app.add_option("--channel-prefix", o.channel_prefix);
  app.add_option("--publish-key", o.publish_key, "Authorization: Bearer for publishes and approvals");
  app.add_flag("--login-storm", o.login_storm,
               "each subscriber is a login screen (POST /login/start, /login/events); approvals at --rate");
  app.add_flag("--idle", o.idle, "connect, settle, report memory per connection; publish nothing");
  app.add_option("--settle", o.settle, "idle: seconds before reading memory");
  app.add_option("--hold", o.hold, "seconds to keep connections open after reporting");
  app.add_option("--drain", o.drain, "seconds to wait for late deliveries");
  app.add_option("--connect-timeout", o.connect_timeout);
  app.add_flag("!--no-barrier", o.barrier, "publish without waiting for the server to count the subscribers");
  app.add_option("--csv", o.csv, "append the result row to this CSV file");
  app.add_flag("!--quiet", o.progress, "no progress lines");
  CLI11_PARSE(app, argc, argv);
  if (o.login_storm) o.channels = o.subscribers;  // one screen, one channel, one approval
  if (o.channels % o.publishers != 0) {
    std::cerr << "--publishers must divide --channels (each channel's publishes stay on one connection, in order)\n";
    return 2;
  }
  return herald::bench::run(o);
}

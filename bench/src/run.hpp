#pragma once
// One measured run of herald-bench: connect the subscribers, wait until the server counts them, publish
// at a rate, drain, and report. Everything with Asio and Beast lives behind this header: the phases in
// run.cpp, the subscribers in subscribers.cpp, the publisher in publisher.cpp.
#include <string>
#include <vector>

namespace herald::bench {

struct Options {
  std::string scenario = "adhoc";  // only a label in the CSV row
  std::string target = "herald";   // herald | nchan | ws | socketio: which protocol adapter
  std::string url = "http://127.0.0.1:8080";
  std::string transport = "ws";  // ws | sse | longpoll | poll
  double poll_interval = 1.0;    // seconds between interval polls
  int longpoll_wait = 30;        // seconds a long poll may be held
  int subscribers = 100;
  int channels = 1;                  // subscribers are spread round-robin over this many channels
  double rate = 10;                  // publishes per second, over all channels
  double duration = 10;              // seconds of publishing
  int publishers = 1;                // publishing connections (must divide `channels`)
  size_t pad = 0;                    // filler bytes in each payload
  bool pad_words = false;            // the filler as words (compresses about as text does), not 'x's
  bool deflate = false;              // ws: offer permessage-deflate (Beast's client inflates)
  int threads = 1;                   // subscriber event loops
  int connect_concurrency = 256;     // connections being opened at once, per event loop
  std::vector<int> pids;             // the server's processes, for CPU and memory
  std::vector<std::string> sources;  // local addresses to connect from (round-robin)
  std::string channel_prefix;        // default: bench-<pid>-<time>
  bool login_storm = false;          // screens start logins and listen; approvals at `rate`
  std::string publish_key;           // sent as Authorization: Bearer with every publish and approval
  bool idle = false;                 // connect, settle, measure memory; publish nothing
  double settle = 3;                 // idle: seconds to wait before reading memory
  double hold = 0;                   // seconds to keep the connections open after the run
  double drain = 60;                 // at most this long to wait for late deliveries after the last publish
  double connect_timeout = 60;
  bool barrier = true;  // wait until the server counts every subscriber
  std::string csv;      // append the result row to this file (header when new)
  bool progress = true;
};

// Runs once and prints the result (human form on stderr, a CSV row on stdout). Returns the exit status:
// 0 when every expected delivery arrived exactly once and in order, 1 otherwise, 2 when the run failed.
int run(const Options& options);

}  // namespace herald::bench

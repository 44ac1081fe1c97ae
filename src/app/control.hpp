#pragma once
// The node's side of the server API (api/server_api.hpp), heard on the broker's control channel:
//   {"op":"disconnect","user"}            every loop ends the user's connections
//   {"op":"unsubscribe","user","channel"} every loop revokes the channel from the user's connections
//   {"op":"query","id","what":"user"|"channels",…}  every node answers {"op":"answer","id","node",…} on the
//                                         same channel; the asking node gathers the answers
// A query's asker knows how many nodes heard it (the broker says, from PUBLISH's count), so it answers as
// soon as they all have, or after `answer_timeout` with those that did (a node that died meanwhile).
// Request and reply rather than state kept in Redis: the listings are read rarely, while connections come
// and go all the time; nothing is written per connection, and nothing is left behind by a node that dies.
#include <atomic>
#include <boost/json/object.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "broker/broker.hpp"
#include "core/subscriber_counts.hpp"
#include "http/server_context.hpp"
#include "runtime/event_loops.hpp"

namespace herald {

class Control {
 public:
  static constexpr auto answer_timeout = std::chrono::milliseconds(500);

  Control(Broker& broker, EventLoops& loops, SubscriberCounts& counts);
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // Hears the control channel from now on.
  void start();
  // ServerContext::ask_cluster: called on an event loop.
  void ask(const std::string& query, ServerContext::ClusterAnswers done);

 private:
  struct Pending {
    ServerContext::ClusterAnswers done;
    asio::io_context* loop = nullptr;
    std::shared_ptr<asio::steady_timer> timer;
    std::vector<std::string> answers;
    std::size_t expected = 0;
    bool expected_known = false;
  };
  void on_command(const std::string& text);
  void answer(const boost::json::object& query);
  void on_answer(const std::string& id, std::string text);
  // Ends a query once (under the lock): its callback is posted to the asking loop.
  void finish_locked(std::unordered_map<std::string, Pending>::iterator it);

  Broker& broker_;
  EventLoops& loops_;
  SubscriberCounts& counts_;
  std::string node_;  // this process's name in answers
  std::atomic<std::uint64_t> next_id_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, Pending> pending_;
};

}  // namespace herald

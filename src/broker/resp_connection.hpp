#pragma once
// One connection to one Redis node speaking RESP over an Asio socket, with hiredis's reply parser (its
// asynchronous API cannot hold a sharded subscription: hiredis 0.14 knows SSUBSCRIBE's pushes as no
// reply it expects and aborts). Used by the cluster layer (redis_cluster.hpp) for commands and for
// sharded Pub/Sub.
//
// Commands may be sent before the connection is made (they are queued and written once it is); each
// gets its reply, in order, or nullptr when the connection fails or closes. A reply that answers no
// command (a sharded Pub/Sub message, or a sunsubscribe the server sent by itself when its slot moved)
// goes to the push handler. Everything runs on the io_context's one thread.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/redis_options.hpp"

struct redisReply;
struct redisReader;

namespace herald {

class RespConnection : public std::enable_shared_from_this<RespConnection> {
 public:
  using Handler = std::function<void(redisReply*)>;  // nullptr: no reply (the connection failed)

  RespConnection(boost::asio::io_context& io, RedisAddress address);
  ~RespConnection();
  RespConnection(const RespConnection&) = delete;
  RespConnection& operator=(const RespConnection&) = delete;

  // Connects (within `timeout`); `closed` is called once when the connection fails or closes, after the
  // commands waiting for a reply were answered nullptr. AUTH is sent first when `password` is set.
  void start(std::chrono::milliseconds timeout, const std::string& username, const std::string& password,
             std::function<void(const std::string&)> closed);
  void set_push(std::function<void(redisReply*)> push) { push_ = std::move(push); }
  void send(const std::vector<std::string_view>& args, Handler handler);
  // Closes without calling `closed`; commands waiting get nullptr.
  void close();
  bool open() const { return !done_; }
  const RedisAddress& address() const { return address_; }

 private:
  void fail(const std::string& why);
  void write_more();
  void read_more();
  bool is_push(const redisReply* reply) const;

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  RedisAddress address_;
  redisReader* reader_;
  struct Waiting {
    Handler handler;
    std::string verb;     // upper case
    std::string subject;  // the first argument (a channel, for SSUBSCRIBE and SUNSUBSCRIBE)
  };
  std::deque<Waiting> waiting_;
  std::string out_;      // written once connected
  std::string writing_;  // being written
  bool connected_ = false;
  bool done_ = false;
  std::vector<char> in_;
  std::function<void(redisReply*)> push_;
  std::function<void(const std::string&)> closed_;
};

}  // namespace herald

#pragma once
// Accepts connections on one socket and deals them round-robin to the event loops.
#include <memory>

#include "http/server_context.hpp"
#include "runtime/beast.hpp"
#include "runtime/event_loops.hpp"

namespace herald {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds and listens; throws boost::system::system_error when the address cannot be had.
  Listener(EventLoops& loops, ServerContext& context, const tcp::endpoint& endpoint);

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  void start() { accept(); }
  void stop();

 private:
  void accept();
  void start_tls(tcp::socket socket, std::size_t loop, std::shared_ptr<void> ticket);

  EventLoops& loops_;
  ServerContext& context_;
  tcp::acceptor acceptor_;
  asio::steady_timer pause_;
  std::size_t next_loop_ = 0;
};

}  // namespace herald

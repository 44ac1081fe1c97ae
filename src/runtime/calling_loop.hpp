#pragma once
// The event loop the current thread runs, if any. A broker that answers from a thread of its own (Redis)
// hands each answer back to the loop that asked, because a loop's hub and subscribers are single-threaded.
namespace boost::asio {
class io_context;
}

namespace herald {

// nullptr on threads that run no event loop (tests, the broker's own thread).
boost::asio::io_context* calling_loop();
// Set by each event loop thread before it runs.
void set_calling_loop(boost::asio::io_context* loop);

}  // namespace herald

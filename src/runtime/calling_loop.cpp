#include "runtime/calling_loop.hpp"

namespace herald {
namespace {
thread_local boost::asio::io_context* current_loop = nullptr;
}  // namespace

boost::asio::io_context* calling_loop() { return current_loop; }
void set_calling_loop(boost::asio::io_context* loop) { current_loop = loop; }

}  // namespace herald

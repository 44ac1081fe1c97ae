#include "broker/redis_asio.hpp"

#include <hiredis/async.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <memory>

namespace herald {
namespace {

using boost::asio::posix::stream_descriptor;

// Shared by the hooks and by each pending wait, so a wait that completes after hiredis freed the context
// finds `context` null instead of a dangling pointer.
struct Watch {
  Watch(redisAsyncContext* c, boost::asio::io_context& loop) : context(c), socket(loop, c->c.fd) {}
  redisAsyncContext* context;
  stream_descriptor socket;
  bool want_read = false, want_write = false;
  bool read_waiting = false, write_waiting = false;
};
using WatchPtr = std::shared_ptr<Watch>;

void wait_readable(const WatchPtr& watch) {
  if (watch->read_waiting || !watch->want_read || watch->context == nullptr) return;
  watch->read_waiting = true;
  watch->socket.async_wait(stream_descriptor::wait_read, [watch](boost::system::error_code ec) {
    watch->read_waiting = false;
    if (ec || watch->context == nullptr || !watch->want_read) return;
    redisAsyncHandleRead(watch->context);  // may free the context (cleanup hook clears `context`)
    wait_readable(watch);
  });
}

void wait_writable(const WatchPtr& watch) {
  if (watch->write_waiting || !watch->want_write || watch->context == nullptr) return;
  watch->write_waiting = true;
  watch->socket.async_wait(stream_descriptor::wait_write, [watch](boost::system::error_code ec) {
    watch->write_waiting = false;
    if (ec || watch->context == nullptr || !watch->want_write) return;
    redisAsyncHandleWrite(watch->context);
    wait_writable(watch);
  });
}

WatchPtr& watch_of(void* data) { return *static_cast<WatchPtr*>(data); }

}  // namespace

void attach_to_asio(redisAsyncContext* context, boost::asio::io_context& loop) {
  auto* holder = new WatchPtr(std::make_shared<Watch>(context, loop));
  context->ev.data = holder;
  context->ev.addRead = [](void* data) {
    watch_of(data)->want_read = true;
    wait_readable(watch_of(data));
  };
  context->ev.delRead = [](void* data) { watch_of(data)->want_read = false; };
  context->ev.addWrite = [](void* data) {
    watch_of(data)->want_write = true;
    wait_writable(watch_of(data));
  };
  context->ev.delWrite = [](void* data) { watch_of(data)->want_write = false; };
  context->ev.cleanup = [](void* data) {
    auto* held = static_cast<WatchPtr*>(data);
    Watch& watch = **held;
    watch.context = nullptr;
    watch.want_read = watch.want_write = false;
    // hiredis owns the file descriptor and closes it; release() also cancels the pending waits.
    watch.socket.release();
    delete held;
  };
}

}  // namespace herald

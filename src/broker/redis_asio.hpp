#pragma once
// Drives a hiredis asynchronous context from an Asio event loop (hiredis ships no Asio adapter): hiredis
// says when it wants to read or write, and a stream_descriptor waiting on the socket calls it back.
// Everything runs on the loop's thread; hiredis is never called from anywhere else.
#include <boost/asio/io_context.hpp>

struct redisAsyncContext;

namespace herald {

// Attaches `context` (just created by redisAsyncConnect, not yet attached) to `loop`. hiredis calls the
// adapter's cleanup hook when it frees the context; the adapter then lets go of the socket without
// closing it (hiredis closes it).
void attach_to_asio(redisAsyncContext* context, boost::asio::io_context& loop);

}  // namespace herald

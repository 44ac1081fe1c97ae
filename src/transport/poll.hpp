#pragma once
#include <memory>

#include "runtime/beast.hpp"
#include "transport/subscribe_request.hpp"

namespace herald {

class HttpSession;

// Interval poll (wait_seconds == 0: answer at once) and long poll (hold until a message or the wait ends).
void serve_poll(const std::shared_ptr<HttpSession>& session, Request request, SubscribeRequest subscribe);

}  // namespace herald

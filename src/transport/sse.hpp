#pragma once
#include <memory>

#include "runtime/beast.hpp"
#include "transport/subscribe_request.hpp"

namespace herald {

class HttpSession;

// Server-Sent Events: takes the connection over and streams the channel down it.
void start_sse(const std::shared_ptr<HttpSession>& session, const Request& request, SubscribeRequest subscribe);

}  // namespace herald

#pragma once
// POST /api/broadcast: one message on each of several channels, for a backend (docs/api.md).
#include <memory>

#include "runtime/beast.hpp"

namespace herald {

class HttpSession;

// Each channel is admitted as a POST /pub to it from the same client would be, published on its own
// (with the broadcast's idempotency key, if any, on each), and answered per channel.
void broadcast_route(const std::shared_ptr<HttpSession>& session, Request request);

}  // namespace herald

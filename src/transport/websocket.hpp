#pragma once
#include <memory>
#include <optional>

#include "access/admission.hpp"
#include "runtime/beast.hpp"
#include "transport/subscribe_request.hpp"

namespace herald {

class HttpSession;

// Upgrades the connection. With `single`, it is GET /sub/{channel}: one channel, envelopes as frames.
// Without, it is GET /ws: the JSON protocol of subscribe/unsubscribe/publish frames.
// `identity`: who the upgrade's connection token says the socket is.
void start_websocket(const std::shared_ptr<HttpSession>& session, const Request& request,
                     std::optional<SubscribeRequest> single, Identity identity = std::nullopt,
                     std::shared_ptr<void> user_hold = {});

}  // namespace herald

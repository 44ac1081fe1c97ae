#pragma once
#include <memory>

#include "runtime/beast.hpp"

namespace herald {

class HttpSession;

// Sends one request to its route (the API at a glance is in router.cpp).
void route_request(const std::shared_ptr<HttpSession>& session, Request request);

}  // namespace herald

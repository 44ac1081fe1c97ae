#pragma once
// The server API: what an application's back-end does to users and channels (docs/api.md, "Server
// API"), with a publish key. Commands that act on connections go through the broker's control channel,
// so every node carries them out (app/control.cpp).
#include <boost/url/url_view.hpp>
#include <memory>

#include "runtime/beast.hpp"

namespace herald {

class HttpSession;

// A control command, as the broker carries it between nodes: {"op":"disconnect","user":…} or
// {"op":"unsubscribe","user":…,"channel":…}.
std::string disconnect_command(const std::string& user);
std::string unsubscribe_command(const std::string& user, const std::string& channel);

// Answers /api/... requests; false when the path is not the server API's.
bool route_server_api(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url);

}  // namespace herald

#pragma once
// The cross-device login's routes (docs/login.md). Each returns false when the path is not theirs.
#include <boost/url/url_view.hpp>
#include <memory>

#include "runtime/beast.hpp"

namespace herald {

class HttpSession;

// /login/*, /device, /signin, /me, /logout, /api/login/approve, and the OAuth routes below.
bool route_login(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url);
// RFC 8628: /oauth/device_authorization, /oauth/token, /.well-known/oauth-authorization-server.
bool route_oauth(const std::shared_ptr<HttpSession>& session, Request& request, const boost::urls::url_view& url);

}  // namespace herald

#pragma once
// Which web origins may use herald from a browser. A browser names the page's origin in `Origin` on
// WebSocket upgrades, cross-origin fetches and EventSources, and on POSTs. Same origin (the request's
// own Host when it is one of the server's names, or the configured public origin) is always allowed;
// others only when listed ("*": any).
#include <string>
#include <string_view>
#include <vector>

#include "runtime/beast.hpp"

namespace herald {

enum class OriginCheck {
  absent,   // no Origin header: not a browser, or a same-origin GET
  same,     // the page is herald's own
  allowed,  // another origin, listed
  foreign,  // another origin, not listed
};

// `public_origin`, when given, is herald's own origin (scheme://host[:port]) besides the request's Host,
// which counts only when `host_is_own` (http/trust.hpp: one of the server's names, not a rebound one).
OriginCheck check_origin(const Request& request, const std::vector<std::string>& allowed,
                         std::string_view public_origin, bool host_is_own);

inline bool origin_acceptable(OriginCheck check) { return check != OriginCheck::foreign; }

// The CORS headers that let the listed origin's scripts read an answer (and the cursor header).
void add_cors_headers(http::fields& fields, std::string_view origin);

}  // namespace herald

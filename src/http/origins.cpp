#include "http/origins.hpp"

namespace herald {

OriginCheck check_origin(const Request& request, const std::vector<std::string>& allowed,
                         std::string_view public_origin, bool host_is_own) {
  std::string_view origin = request[http::field::origin];
  if (origin.empty()) return OriginCheck::absent;
  std::string_view host = request[http::field::host];
  // Behind a proxy the Host header may be an internal name: the configured public origin is herald's own.
  if (!public_origin.empty() && origin == public_origin) return OriginCheck::same;
  // The page's own Host counts only when it is one of the server's names: a page on a name its author
  // pointed at herald (DNS rebinding) sends that name as Host and as Origin alike.
  if (host_is_own && !host.empty()) {
    for (std::string_view scheme : {"http://", "https://"}) {
      if (origin.size() == scheme.size() + host.size() && origin.starts_with(scheme) && origin.ends_with(host)) {
        return OriginCheck::same;
      }
    }
  }
  for (const auto& entry : allowed) {
    if (entry == "*" || entry == origin) return OriginCheck::allowed;
  }
  return OriginCheck::foreign;
}

void add_cors_headers(http::fields& fields, std::string_view origin) {
  fields.set(http::field::access_control_allow_origin, origin);
  fields.set(http::field::access_control_allow_credentials, "true");
  fields.set(http::field::access_control_expose_headers, "Herald-Cursor, Idempotent-Replayed, Retry-After");
  fields.set(http::field::vary, "Origin");
}

}  // namespace herald

#pragma once
// Reading a cookie from a request and writing Set-Cookie values.
#include <optional>
#include <string>
#include <string_view>

#include "runtime/beast.hpp"

namespace herald {

// The value of cookie `name` in the request's Cookie headers, if any.
std::optional<std::string> cookie_value(const Request& request, std::string_view name);

struct CookieOptions {
  std::string path = "/";
  std::string same_site = "Strict";
  long max_age_seconds = -1;  // < 0: a session cookie; 0: delete it
  bool secure = false;
};
// "name=value; Path=..; HttpOnly; SameSite=..[; Max-Age=..][; Secure]". Always HttpOnly: no page script
// ever needs herald's cookies.
std::string set_cookie_value(std::string_view name, std::string_view value, const CookieOptions& options);

}  // namespace herald

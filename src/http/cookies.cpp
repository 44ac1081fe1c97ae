#include "http/cookies.hpp"

namespace herald {

std::optional<std::string> cookie_value(const Request& request, std::string_view name) {
  auto [first, last] = request.equal_range(http::field::cookie);
  for (auto field = first; field != last; ++field) {
    std::string_view rest = field->value();
    while (!rest.empty()) {
      auto end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      auto equals = pair.find('=');
      if (equals == std::string_view::npos || pair.substr(0, equals) != name) continue;
      std::string_view value = pair.substr(equals + 1);
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
  }
  return std::nullopt;
}

std::string set_cookie_value(std::string_view name, std::string_view value, const CookieOptions& options) {
  std::string out = std::string(name) + "=" + std::string(value) + "; Path=" + options.path +
                    "; HttpOnly; SameSite=" + options.same_site;
  if (options.max_age_seconds >= 0) out += "; Max-Age=" + std::to_string(options.max_age_seconds);
  if (options.secure) out += "; Secure";
  return out;
}

}  // namespace herald

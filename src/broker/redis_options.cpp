#include "broker/redis_options.hpp"

#include <charconv>
#include <stdexcept>

namespace herald {
namespace {

std::string percent_decode(std::string_view text, const std::string& url) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned value = 0;
    if (i + 3 > text.size() ||
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr != text.data() + i + 3) {
      throw std::runtime_error("redis url '" + url + "' has a malformed %-escape");
    }
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

template <typename T>
T parse_number(std::string_view text, const std::string& url, const char* what) {
  T value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) {
    throw std::runtime_error("redis url '" + url + "' has no valid " + what);
  }
  return value;
}

}  // namespace

RedisAddress parse_redis_address(const std::string& text, std::uint16_t default_port, const std::string& what) {
  RedisAddress address{.host = text, .port = default_port};
  std::string_view host = text;
  if (host.starts_with('[')) {
    auto close = host.find(']');
    if (close == std::string_view::npos || (close + 1 < host.size() && host[close + 1] != ':')) {
      throw std::runtime_error(what + ": '" + text + "' is not host:port");
    }
    if (close + 1 < host.size()) address.port = parse_number<std::uint16_t>(host.substr(close + 2), text, "port");
    address.host = std::string(host.substr(1, close - 1));
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    address.port = parse_number<std::uint16_t>(host.substr(colon + 1), text, "port");
    address.host = std::string(host.substr(0, colon));
  }
  if (address.host.empty() || address.port == 0) throw std::runtime_error(what + ": '" + text + "' is not host:port");
  return address;
}

RedisOptions parse_redis_url(const std::string& url) {
  constexpr std::string_view scheme = "redis://";
  std::string_view rest(url);
  if (rest.starts_with("rediss://")) {
    throw std::runtime_error("redis url '" + url +
                             "': TLS (rediss://) is not supported yet; reach Redis over a private network or a "
                             "TLS tunnel");
  }
  if (!rest.starts_with(scheme)) throw std::runtime_error("redis url '" + url + "' must start with redis://");
  rest.remove_prefix(scheme.size());
  RedisOptions options;
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = rest.substr(0, at);
    rest.remove_prefix(at + 1);
    auto colon = credentials.find(':');
    options.username = percent_decode(credentials.substr(0, colon), url);
    if (colon != std::string_view::npos) options.password = percent_decode(credentials.substr(colon + 1), url);
  }
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!db.empty()) options.db = parse_number<unsigned>(db, url, "database number");
  }
  std::string_view host = rest;
  if (host.starts_with('[')) {  // [v6]:port
    auto close = host.find(']');
    if (close == std::string_view::npos) throw std::runtime_error("redis url '" + url + "' has a malformed host");
    if (close + 1 < host.size()) {
      if (host[close + 1] != ':') throw std::runtime_error("redis url '" + url + "' has a malformed host");
      options.port = parse_number<std::uint16_t>(host.substr(close + 2), url, "port");
    }
    host = host.substr(1, close - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    options.port = parse_number<std::uint16_t>(host.substr(colon + 1), url, "port");
    host = host.substr(0, colon);
  }
  if (host.empty()) throw std::runtime_error("redis url '" + url + "' has no host");
  options.host = std::string(host);
  return options;
}

}  // namespace herald

#include "http/trust.hpp"

#include <algorithm>
#include <cctype>

namespace herald {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// The host of "scheme://host[:port][/...]", or "".
std::string_view url_host(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find('/'));
  if (url.starts_with('[')) return url.substr(0, url.find(']') + 1);
  return url.substr(0, url.rfind(':'));
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// One hop's address as a forwarding header writes it: "192.0.2.7", "192.0.2.7:4711", "[2001:db8::1]",
// "\"[2001:db8::1]:4711\"" (RFC 7239 quotes it). Unparsable ("unknown", obfuscated names): nullopt.
std::optional<asio::ip::address> hop_address(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    text = text.substr(1, close - 1);
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    text = text.substr(0, text.find(':'));  // IPv4 with a port
  }
  error_code ec;
  auto address = asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return plain_address(address);
}

// Every hop a header lists, oldest (the original client) first; nullopt for hops that do not parse.
std::vector<std::optional<asio::ip::address>> hops(const Request& request) {
  std::vector<std::optional<asio::ip::address>> out;
  auto split = [&](std::string_view list, auto&& each) {
    while (!list.empty()) {
      auto comma = list.find(',');
      each(list.substr(0, comma));
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  };
  auto each_value = [&](auto name, auto&& each) {
    auto [first, last] = request.equal_range(name);
    for (auto it = first; it != last; ++it) each(it->value());
  };
  if (request.find(http::field::forwarded) != request.end()) {
    each_value(http::field::forwarded, [&](std::string_view value) {
      split(value, [&](std::string_view element) {
        std::optional<asio::ip::address> hop;
        for (std::string_view rest = element; !rest.empty();) {
          auto semicolon = rest.find(';');
          auto pair = trim(rest.substr(0, semicolon));
          if (pair.size() > 4 && lower(pair.substr(0, 4)) == "for=") hop = hop_address(pair.substr(4));
          if (semicolon == std::string_view::npos) break;
          rest.remove_prefix(semicolon + 1);
        }
        out.push_back(hop);
      });
    });
    return out;
  }
  if (request.find("X-Forwarded-For") != request.end()) {
    each_value("X-Forwarded-For", [&](std::string_view value) {
      split(value, [&](std::string_view hop) { out.push_back(hop_address(hop)); });
    });
    return out;
  }
  if (auto real = request["X-Real-IP"]; !real.empty()) out.push_back(hop_address(real));
  return out;
}

}  // namespace

asio::ip::address plain_address(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

Trust::Trust(const Config& config) {
  for (const auto& text : config.trust.trusted_proxies) {
    if (auto network = parse_network(text)) proxies_.push_back(*network);  // validated with the config
  }
  hosts_.emplace_back("localhost");
  auto listen_host = lower(split_host_port(config.listen).first);
  hosts_.push_back(listen_host);
  if (auto host = url_host(config.login.public_url); !host.empty()) hosts_.push_back(lower(host));
  for (const auto& host : config.trust.allowed_hosts) hosts_.push_back(lower(host));
}

bool Trust::is_proxy(const asio::ip::address& given) const {
  auto address = plain_address(given);
  std::array<unsigned char, 16> bytes{};
  if (address.is_v4()) {
    auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), bytes.begin());
  } else {
    bytes = address.to_v6().to_bytes();
  }
  return std::any_of(proxies_.begin(), proxies_.end(),
                     [&](const Network& network) { return network.contains(bytes, address.is_v6()); });
}

bool Trust::own_host(std::string_view host) const {
  if (host.empty()) return true;           // HTTP/1.0 without Host: not a browser, which always names the host
  if (host.starts_with('[')) return true;  // an IPv6 literal
  if (auto colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
  if (host.ends_with('.')) host.remove_suffix(1);
  error_code ec;
  asio::ip::make_address_v4(std::string(host), ec);
  if (!ec) return true;  // an IPv4 literal: a page can only be on it by being herald's own
  std::string name = lower(host);
  return std::find(hosts_.begin(), hosts_.end(), name) != hosts_.end();
}

asio::ip::address Trust::forwarded_client(const Request& request, const asio::ip::address& proxy) const {
  auto listed = hops(request);
  asio::ip::address client = proxy;
  // From the nearest hop outwards: each trusted proxy vouches for the hop before it; the first hop that
  // is not a trusted proxy is the client. A hop that cannot be read ends the walk at the last proxy.
  for (auto it = listed.rbegin(); it != listed.rend(); ++it) {
    if (!*it) break;
    client = **it;
    if (!is_proxy(client)) break;
  }
  return client;
}

Peer Trust::identify(const Request& request, const asio::ip::address& socket_peer) const {
  Peer peer;
  auto address = plain_address(socket_peer);
  peer.address = address;
  peer.forwarded = request.find(http::field::forwarded) != request.end() ||
                   request.find("X-Forwarded-For") != request.end() || request.find("X-Real-IP") != request.end();
  peer.via_proxy = is_proxy(address);
  if (peer.via_proxy && peer.forwarded) peer.address = forwarded_client(request, address);
  peer.own_host = own_host(request[http::field::host]);
  peer.this_machine = address.is_loopback() && !peer.via_proxy && !peer.forwarded && peer.own_host;
  return peer;
}

}  // namespace herald

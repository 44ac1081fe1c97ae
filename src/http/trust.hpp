#pragma once
// Whom herald believes about where a request comes from. An address alone proves little: behind a
// reverse proxy on the same host every client arrives from loopback, and a page on a name its author
// controls can point that name at 127.0.0.1 (DNS rebinding), so its scripts reach herald as if from this
// machine. So:
//  - a request comes from "this machine" (which a few settings trust) only when its socket peer is
//    loopback and not a trusted proxy, it carries no forwarding header, and its Host is one of the
//    server's own names;
//  - forwarding headers (Forwarded, X-Forwarded-For, X-Real-IP) are believed only from trusted_proxies,
//    and then the client they name is the address every per-address limit counts;
//  - a Host that is not one of the server's own names makes nothing same-origin.
// The server's own names: localhost, any IP literal (rebinding needs a name), the listen host,
// login.public_url's host and allowed_hosts.
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "runtime/beast.hpp"

namespace herald {

struct Peer {
  asio::ip::address address;  // the client: the socket's peer, or the address a trusted proxy forwarded
  bool via_proxy = false;     // the socket's peer is a trusted proxy
  bool forwarded = false;     // the request carries a forwarding header, whoever sent it
  bool own_host = true;       // its Host names this server
  bool this_machine = false;  // see above
};

class Trust {
 public:
  explicit Trust(const Config& config);

  bool is_proxy(const asio::ip::address& address) const;
  // `host` is a Host header's value (a port may follow).
  bool own_host(std::string_view host) const;
  Peer identify(const Request& request, const asio::ip::address& socket_peer) const;

 private:
  // The client named by a trusted proxy's headers: the nearest hop that is not itself a trusted proxy.
  asio::ip::address forwarded_client(const Request& request, const asio::ip::address& proxy) const;

  std::vector<Network> proxies_;
  std::vector<std::string> hosts_;  // lower case
};

// A peer's address with IPv4-mapped IPv6 addresses shown as the IPv4 they carry.
asio::ip::address plain_address(const asio::ip::address& address);

}  // namespace herald

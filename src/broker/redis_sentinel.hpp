#pragma once
// Finding the primary through Redis Sentinel: SENTINEL get-master-addr-by-name, asked of each sentinel in
// turn until one answers. The Redis broker and the login link ask before every connection attempt, so
// after a failover (Sentinel kills the clients of the demoted primary, or the primary is gone) they
// reconnect to the primary Sentinel promoted.
#include <optional>
#include <string>

#include "broker/redis_options.hpp"

namespace herald {

// Blocks for at most the connect timeout per sentinel: call it only on a Redis thread of herald's own,
// never on an event loop. On failure, nullopt with `error` saying why.
std::optional<RedisAddress> find_primary(const RedisOptions& options, std::string& error);

}  // namespace herald

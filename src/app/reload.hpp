#pragma once
// SIGHUP: what of a new config a running server takes without dropping anyone, and what needs a restart.
#include <string>
#include <vector>

#include "config/config.hpp"

namespace herald {

// The settings of `next` that differ from `running` but are bound when the server starts (the listening
// socket, the event loops, the broker and the login store, the rate limiters and presence): named, as
// "listen" or "limits.publishes_per_second", for the log line that says they need a restart.
std::vector<std::string> needs_restart(const Config& running, const Config& next);

// Copies onto `running` what changes live: the publish keys, origins, trust, token secret, web root, log
// level, transports, namespaces' access rules and the limits read per connection or request. Called
// while no event loop runs (they read these without a lock).
void apply_live(Config& running, const Config& next);

}  // namespace herald

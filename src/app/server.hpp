#pragma once
// Wires the pieces together and runs them until SIGTERM or SIGINT; SIGHUP reloads the config.
#include <functional>

#include "config/config.hpp"

namespace herald {

// Returns the process exit code. `reload` reads the config again (SIGHUP), throwing when it is invalid;
// empty: there is no file to read.
int run_server(const Config& config, const std::function<Config()>& reload = {});

}  // namespace herald

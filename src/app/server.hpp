#pragma once
// Wires the pieces together and runs them until SIGTERM or SIGINT.
#include "config/config.hpp"

namespace herald {

// Returns the process exit code.
int run_server(const Config& config);

}  // namespace herald

#pragma once
#include <string>

#include "runtime/beast.hpp"

namespace herald {

// The file under `root` for a decoded URL path ("/" -> index.html), or a JSON 404. Paths that climb out
// of the root are refused.
Response serve_static_file(const std::string& root, const Request& request, std::string_view path);

}  // namespace herald

#pragma once
// A refusal the client can act on: a stable machine-readable code and a human sentence.
// The HTTP layer maps codes to status codes; the core knows nothing of HTTP.
#include <string>

namespace herald {

struct Error {
  std::string code;
  std::string message;
};

}  // namespace herald

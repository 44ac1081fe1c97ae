// Configuration files: any text is either a Config or a std::runtime_error saying what is wrong —
// never another exception, a crash or a hang.
#include <cstdint>
#include <stdexcept>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    herald::parse_config(text, "fuzz.toml");
  } catch (const std::runtime_error&) {
  }
  return 0;
}

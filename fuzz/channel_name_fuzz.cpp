// Channel names come from URLs and /ws frames. A valid name's namespace is a prefix of it.
#include <cstdint>
#include <string_view>

#include "core/channel_name.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view name(reinterpret_cast<const char*>(data), size);
  if (!herald::is_valid_channel_name(name)) return 0;
  std::string_view space = herald::namespace_of(name);
  if (!name.starts_with(space)) __builtin_trap();
  return 0;
}

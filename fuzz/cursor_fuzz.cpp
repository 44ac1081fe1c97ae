// Cursors come from clients (`since`, Last-Event-ID, /ws frames): any bytes must parse or be refused,
// and whatever parses must print back to a cursor that parses to the same value.
#include <cstdint>
#include <string_view>

#include "core/cursor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cursor = herald::parse_cursor(text);
  if (!cursor) return 0;
  auto again = herald::parse_cursor(herald::format_cursor(*cursor));
  if (!again || again->history != cursor->history || again->seq != cursor->seq) __builtin_trap();
  return 0;
}

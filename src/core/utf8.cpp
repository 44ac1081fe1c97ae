#include "core/utf8.hpp"

#include <cstdint>

namespace herald {

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int length = 0;
    std::uint32_t code = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0U) == 0xC0U) {
      length = 2, code = c & 0x1FU, min = 0x80;
    } else if ((c & 0xF0U) == 0xE0U) {
      length = 3, code = c & 0x0FU, min = 0x800;
    } else if ((c & 0xF8U) == 0xF0U) {
      length = 4, code = c & 0x07U, min = 0x10000;
    } else {
      return false;
    }
    if (end - p < length) return false;
    for (int i = 1; i < length; ++i) {
      if ((p[i] & 0xC0U) != 0x80U) return false;
      code = (code << 6U) | (p[i] & 0x3FU);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    p += length;
  }
  return true;
}

}  // namespace herald

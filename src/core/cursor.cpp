#include "core/cursor.hpp"

#include <charconv>
#include <random>

namespace herald {
namespace {

constexpr std::string_view base32_alphabet = "0123456789abcdefghijklmnopqrstuv";
constexpr std::size_t history_chars = 8;  // 8 x 5 bits = 40 bits

}  // namespace

std::string format_cursor(Cursor cursor) {
  std::string out(history_chars, '0');
  std::uint64_t h = cursor.history & history_id_mask;
  for (std::size_t i = history_chars; i-- > 0;) {
    out[i] = base32_alphabet[h & 31U];
    h >>= 5U;
  }
  out += '.';
  out += std::to_string(cursor.seq);
  return out;
}

std::optional<Cursor> parse_cursor(std::string_view text) {
  if (text.size() < history_chars + 2 || text[history_chars] != '.') return std::nullopt;
  Cursor cursor;
  for (std::size_t i = 0; i < history_chars; ++i) {
    auto digit = base32_alphabet.find(text[i]);
    if (digit == std::string_view::npos) return std::nullopt;
    cursor.history = (cursor.history << 5U) | digit;
  }
  auto seq = text.substr(history_chars + 1);
  if (seq.size() > 1 && seq.front() == '0') return std::nullopt;  // one spelling per cursor
  auto [end, error] = std::from_chars(seq.data(), seq.data() + seq.size(), cursor.seq);
  if (error != std::errc{} || end != seq.data() + seq.size()) return std::nullopt;
  return cursor;
}

std::uint64_t new_history_id() {
  static thread_local std::random_device device;
  std::uint64_t id = 0;
  while (id == 0) id = ((std::uint64_t{device()} << 32U) | device()) & history_id_mask;
  return id;
}

}  // namespace herald

// /ws client frames and HTTP publish bodies: whatever is accepted must be what herald promises to
// forward — a valid channel name check happens later, but JSON data must be valid compact JSON and text
// must be UTF-8.
#include <boost/json/parse.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/publish_rules.hpp"
#include "core/utf8.hpp"
#include "transport/ws_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string ref;
  auto frame = herald::parse_client_frame(text, ref);
  if (auto* parsed = std::get_if<herald::ClientFrame>(&frame); parsed && parsed->data_is_json) {
    boost::system::error_code ec;
    boost::json::parse(parsed->data, ec);
    if (ec) __builtin_trap();
  }
  for (bool is_json : {false, true}) {
    auto made = herald::make_publish_request("fuzz", "", std::string(text), is_json, 1 << 16);
    if (auto* request = std::get_if<herald::PublishRequest>(&made)) {
      if (!herald::is_valid_utf8(request->data)) __builtin_trap();
    }
  }
  return 0;
}

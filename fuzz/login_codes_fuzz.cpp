// What a stranger can send the login flow: user codes, QR secrets, poll secrets and device codes. None
// may crash it, and none but the real ones may match.
#include <cstdint>
#include <string>
#include <string_view>

#include "login/login_requests.hpp"
#include "login/secrets.hpp"

namespace {

herald::login::LoginRequests& requests() {
  static herald::login::LoginRequests instance({}, [](herald::login::Event) {});
  static bool started = [] {
    instance.start(herald::login::Flow::qr, {});
    instance.start(herald::login::Flow::device, {}, "tv");
    return true;
  }();
  (void)started;
  return instance;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto code = herald::login::normalize_user_code(text)) {
    if (code->size() != 8 || herald::login::normalize_user_code(herald::login::format_user_code(*code)) != *code) {
      __builtin_trap();
    }
  }
  auto& login = requests();
  if (!std::holds_alternative<herald::login::Refusal>(login.scan(text, "fuzz"))) __builtin_trap();
  if (!std::holds_alternative<herald::login::Refusal>(login.enter_code(text, "fuzz"))) __builtin_trap();
  if (login.status({herald::login::Flow::qr, text})) __builtin_trap();
  if (login.status({herald::login::Flow::device, text})) __builtin_trap();
  login.poll_token(text, "tv", std::chrono::steady_clock::now());
  return 0;
}

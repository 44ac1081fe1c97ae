// Subscribe tokens arrive from anyone who can reach /sub: no input may crash the verifier, and none may
// pass it without the secret's signature. The first byte picks how the input is used: as a whole token,
// or as claims signed with the right secret (which must then verify or be refused cleanly).
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/subscribe_token.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr std::string_view secret = "fuzzing secret";
  if (data[0] & 1) {
    std::string token = herald::auth::sign_subscribe_token(text, secret);
    auto verified = herald::auth::verify_subscribe_token(token, secret, 1000);
    (void)verified;
    // The same claims under another secret never verify.
    if (std::holds_alternative<herald::auth::SubscribeGrant>(
            herald::auth::verify_subscribe_token(token, "another secret", 1000))) {
      __builtin_trap();
    }
  } else if (std::holds_alternative<herald::auth::SubscribeGrant>(
                 herald::auth::verify_subscribe_token(text, secret, 1000))) {
    __builtin_trap();  // a forged token: found without the secret
  }
  herald::auth::authorize_private(text, secret, "private:x", "127.0.0.1", 1000);
  return 0;
}

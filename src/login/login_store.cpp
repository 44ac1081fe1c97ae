#include "login/login_store.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string_view.hpp>

namespace herald::login {

unsigned Limits::of(Limit limit) const {
  switch (limit) {
    case Limit::starts:
      return starts;
    case Limit::code_attempts:
      return code_attempts;
    case Limit::prompts:
      return prompts;
    case Limit::signins:
      return signins;
  }
  return 0;
}

std::string_view state_name(State state) {
  switch (state) {
    case State::pending:
      return "pending";
    case State::scanned:
      return "scanned";
    case State::approved:
      return "approved";
    case State::denied:
      return "denied";
    case State::consumed:
      return "consumed";
    case State::expired:
      return "expired";
    case State::cancelled:
      return "cancelled";
  }
  return "unknown";
}

std::optional<State> state_named(std::string_view name) {
  for (State state : {State::pending, State::scanned, State::approved, State::denied, State::consumed, State::expired,
                      State::cancelled}) {
    if (state_name(state) == name) return state;
  }
  return std::nullopt;
}

std::string events_channel(std::string_view id) { return "_login:" + std::string(id); }

Refusal login_unavailable() {
  return {"login_unavailable", "The login store is unreachable right now: try again in a moment.", {}, 1};
}

namespace refusals {

namespace {
std::string quote(std::string_view text) { return boost::json::serialize(boost::json::string_view(text)); }
}  // namespace

Refusal invalid_code() { return {"invalid_code", "This code is not valid or has expired.", {}}; }
Refusal unauthorized() { return {"unauthorized", "This login request is unknown: start a new one.", {}}; }
Refusal gone() { return {"gone", "This login request is over: start a new one.", {}}; }
Refusal no_qr() { return {"gone", "There is no QR code to show for this login now.", {}}; }
Refusal not_approved(State state) {
  return {"not_approved", "The login has not been approved yet.",
          R"("state":")" + std::string(state_name(state)) + "\""};
}
Refusal access_denied(std::string_view reason) {
  return {"access_denied", "The login was denied.", R"("reason":)" + quote(reason)};
}
Refusal wrong_number() {
  return {"wrong_number",
          "That is not the number the other screen shows, so this sign-in was denied. Start again on that screen. If "
          "you did not start it yourself, someone may be trying to trick you.",
          R"("state":"denied")"};
}
Refusal number_required() { return {"number_required", "Pick the number shown on the screen that is signing in.", {}}; }
Refusal too_many_prompts(unsigned retry_after) {
  return {"rate_limited", "Too many approval prompts for this account.", {}, retry_after};
}
Refusal busy() { return {"busy", "Too many login requests are waiting: try again shortly.", {}}; }
Refusal rate_limited(unsigned retry_after) { return {"rate_limited", "Too many attempts.", {}, retry_after}; }

}  // namespace refusals

std::string mask_subject(std::string_view subject) {
  if (subject.empty()) return "***";
  // Keep the first UTF-8 character whole.
  std::size_t length = 1;
  while (length < subject.size() && (static_cast<unsigned char>(subject[length]) & 0xC0) == 0x80) ++length;
  return std::string(subject.substr(0, length)) + "***";
}

std::string describe_user_agent(std::string_view ua) {
  auto has = [&](std::string_view needle) { return ua.find(needle) != std::string_view::npos; };
  std::string browser = has("Edg/")       ? "Edge"
                        : has("OPR/")     ? "Opera"
                        : has("Firefox/") ? "Firefox"
                        : has("Chrome/")  ? "Chrome"
                        : has("Safari/")  ? "Safari"
                        : has("curl/")    ? "curl"
                                          : "";
  std::string system = has("Android")                 ? "Android"
                       : has("iPhone") || has("iPad") ? "iOS"
                       : has("Windows")               ? "Windows"
                       : has("Mac OS X")              ? "macOS"
                       : has("CrOS")                  ? "ChromeOS"
                       : has("Linux")                 ? "Linux"
                                                      : "";
  if (browser.empty()) return system.empty() ? "an unknown client" : "a browser on " + system;
  return system.empty() ? browser : browser + " on " + system;
}

}  // namespace herald::login

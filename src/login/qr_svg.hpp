#pragma once
// A QR code as a standalone SVG image (libqrencode does the encoding; this only draws the modules).
#include <string>

namespace herald::login {

// Throws std::runtime_error when the text cannot be encoded (too long for any QR version).
std::string qr_svg(const std::string& text);

}  // namespace herald::login

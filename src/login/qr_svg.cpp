#include "login/qr_svg.hpp"

#include <qrencode.h>

#include <memory>
#include <stdexcept>

namespace herald::login {

std::string qr_svg(const std::string& text) {
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1),
                                                       &QRcode_free);
  if (!code) throw std::runtime_error("the text does not fit in a QR code");
  const int width = code->width;
  constexpr int quiet = 4;  // the quiet zone the QR standard asks for, in modules
  const int size = width + 2 * quiet;
  std::string svg;
  svg.reserve(static_cast<std::size_t>(width * width) * 8);
  svg.append(R"(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 )")
      .append(std::to_string(size))
      .append(" ")
      .append(std::to_string(size))
      .append(R"(" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path fill="#000" d=")");
  for (int y = 0; y < width; ++y) {
    for (int x = 0; x < width; ++x) {
      // Bit 0 of each module byte is "dark"; the other bits describe what the module is part of.
      if (code->data[y * width + x] & 1) {
        svg.append("M")
            .append(std::to_string(x + quiet))
            .append(" ")
            .append(std::to_string(y + quiet))
            .append("h1v1h-1z");
      }
    }
  }
  svg.append(R"("/></svg>)");
  return svg;
}

}  // namespace herald::login

#include "http/static_files.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "http/responses.hpp"

namespace herald {
namespace {

std::string_view mime_type(std::string_view path) {
  auto dot = path.rfind('.');
  std::string_view ext = dot == std::string_view::npos ? std::string_view{} : path.substr(dot);
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

bool is_safe_path(std::string_view path) {
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string_view::npos) return false;
  // No segment may be "." or ".." or hidden: nothing outside web/ and no dotfiles.
  return path.find("/.") == std::string_view::npos && path.find('\\') == std::string_view::npos;
}

// The file a request names, once every symbolic link in it is resolved, if it is a regular file and
// stays inside the root (itself resolved: the root may be a link, e.g. current -> release-42). A link
// inside the root to a file inside it is served; one that leads anywhere else is not.
std::optional<std::filesystem::path> resolve_inside(const std::string& root, const std::string& file) {
  std::error_code ec;
  auto real_root = std::filesystem::canonical(root, ec);
  if (ec) return std::nullopt;
  auto real = std::filesystem::canonical(file, ec);
  if (ec || !std::filesystem::is_regular_file(real, ec)) return std::nullopt;
  // Compared segment by segment: /srv/web-old is not inside /srv/web.
  if (std::mismatch(real_root.begin(), real_root.end(), real.begin(), real.end()).first != real_root.end()) {
    return std::nullopt;
  }
  return real;
}

}  // namespace

Response serve_static_file(const std::string& root, const Request& request, std::string_view path) {
  Error not_found{"not_found", "There is no such file."};
  if (!is_safe_path(path)) return error_response(request, not_found);
  std::string file = root + std::string(path);
  if (file.back() == '/') file += "index.html";
  auto real = resolve_inside(root, file);
  if (!real) return error_response(request, not_found);
  std::ifstream in(*real, std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  if (!in) return error_response(request, not_found);

  Response response{http::status::ok, request.version()};
  response.set(http::field::server, "herald");
  response.set(http::field::content_type, mime_type(file));
  response.set(http::field::cache_control, "no-cache");
  response.keep_alive(request.keep_alive());
  response.body() = std::move(content).str();
  response.prepare_payload();
  return response;
}

}  // namespace herald

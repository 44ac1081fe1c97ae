#include "app/cli_client.hpp"

#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/pchars.hpp>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "runtime/beast.hpp"

namespace herald::cli {
namespace {

namespace json = boost::json;

// Where the server is: $HERALD_URL, plain HTTP (herald's own TLS, or a proxy's, is for curl or a client
// library: this is the operator's tool on the server's machine or network).
struct Server {
  std::string host;
  std::string port;
  std::string base;  // a path prefix, when herald is behind a proxy under one (no trailing slash)
};

Server server_from_environment() {
  const char* given = std::getenv("HERALD_URL");
  std::string text = given != nullptr && *given != '\0' ? given : "http://127.0.0.1:8080";
  auto url = boost::urls::parse_absolute_uri(text);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    throw std::runtime_error("HERALD_URL '" + text + "' must be http://HOST[:PORT][/PATH]");
  }
  Server server{url->host(), url->port().empty() ? "80" : std::string(url->port()), std::string(url->path())};
  while (server.base.ends_with('/')) server.base.pop_back();
  return server;
}

std::string bearer() {
  const char* key = std::getenv("HERALD_KEY");
  return key != nullptr && *key != '\0' ? std::string("Bearer ") + key : "";
}

std::string channel_path(const Server& server, const std::string& prefix, const std::string& channel) {
  return server.base + prefix + boost::urls::encode(channel, boost::urls::pchars);
}

beast::tcp_stream connect(asio::io_context& io, const Server& server) {
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.connect(resolver.resolve(server.host, server.port));
  return stream;
}

http::request<http::string_body> request_to(const Server& server, http::verb verb, const std::string& target) {
  http::request<http::string_body> request{verb, target, 11};
  request.set(http::field::host, server.host + ":" + server.port);
  request.set(http::field::user_agent, "herald-cli");
  if (auto auth = bearer(); !auth.empty()) request.set(http::field::authorization, auth);
  return request;
}

// An answer that is not a success: its JSON error's message (or its body) on standard error.
int refused(unsigned status, const std::string& body) {
  std::string message = body;
  boost::system::error_code ec;
  if (auto parsed = json::parse(body, ec); !ec && parsed.is_object() && parsed.as_object().contains("message")) {
    message = json::value_to<std::string>(parsed.at("message"));
  }
  std::cerr << "herald: " << status << ": " << message << "\n";
  return 1;
}

void print_line(std::string_view line) {
  std::cout << line << "\n" << std::flush;  // a pipe's reader sees each message as it comes
}

std::string with_since(std::string target, const std::string& since, char separator = '?') {
  if (since.empty()) return target;
  return target + separator + "since=" + boost::urls::encode(since, boost::urls::unreserved_chars);
}

// SSE with ?format=envelope: every event's data is an envelope (or a gap) on one line.
int subscribe_sse(const Server& server, const std::string& channel, const std::string& since) {
  asio::io_context io;
  auto stream = connect(io, server);
  auto request = request_to(server, http::verb::get,
                            with_since(channel_path(server, "/sub/", channel) + "?format=envelope", since, '&'));
  request.set(http::field::accept, "text/event-stream");
  http::write(stream, request);
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(stream, buffer, parser);
  if (parser.get().result() != http::status::ok) {
    http::response_parser<http::string_body> rest(std::move(parser));
    error_code ignored;
    http::read(stream, buffer, rest, ignored);
    return refused(rest.get().result_int(), rest.get().body());
  }
  std::string pending;
  char chunk[8192];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    error_code ec;
    http::read_some(stream, buffer, parser, ec);      // what has come: an event is printed as it arrives
    if (ec && ec != http::error::need_buffer) break;  // the server ended the stream (a drain, say)
    pending.append(chunk, sizeof chunk - parser.get().body().size);
    for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
      std::string_view line(pending.data(), end);
      if (line.starts_with("data: ")) print_line(line.substr(6));
      pending.erase(0, end + 1);
    }
  }
  return 0;
}

// Long polls, one after another from the last cursor, until the server is gone.
int subscribe_longpoll(const Server& server, const std::string& channel, std::string since) {
  asio::io_context io;
  for (;;) {
    auto stream = connect(io, server);
    http::write(stream, request_to(server, http::verb::get,
                                   with_since(channel_path(server, "/sub/", channel) + "?wait=30", since, '&')));
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    error_code ec;
    http::read(stream, buffer, response, ec);
    if (ec) return 0;                                                      // the server went away
    if (response.result() == http::status::service_unavailable) return 0;  // draining
    if (response.result() == http::status::no_content) {
      since = std::string(response["Herald-Cursor"]);
      continue;
    }
    if (response.result() != http::status::ok) return refused(response.result_int(), response.body());
    json::value body = json::parse(response.body());
    if (body.at("gap").as_bool()) {
      print_line(
          json::serialize(json::object{{"channel", body.at("channel")}, {"gap", true}, {"cursor", body.at("cursor")}}));
    }
    for (const auto& message : body.at("messages").as_array()) print_line(json::serialize(message));
    since = json::value_to<std::string>(body.at("cursor"));
  }
}

int subscribe_ws(const Server& server, const std::string& channel, const std::string& since) {
  asio::io_context io;
  websocket::stream<beast::tcp_stream> ws(connect(io, server));
  ws.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
    request.set(http::field::user_agent, "herald-cli");
    if (auto auth = bearer(); !auth.empty()) request.set(http::field::authorization, auth);
  }));
  websocket::response_type answer;
  error_code ec;
  ws.handshake(answer, server.host + ":" + server.port, with_since(channel_path(server, "/sub/", channel), since), ec);
  if (ec) {
    if (answer.result_int() != 0) return refused(answer.result_int(), answer.body());
    throw boost::system::system_error(ec);
  }
  for (;;) {
    beast::flat_buffer buffer;
    ws.read(buffer, ec);
    if (ec) return ec == websocket::error::closed ? 0 : 2;
    print_line(beast::buffers_to_string(buffer.data()));
  }
}

}  // namespace

int publish(const std::string& channel, std::optional<std::string> data, bool json_body, const std::string& event) {
  try {
    Server server = server_from_environment();
    if (!data) data = std::string(std::istreambuf_iterator<char>(std::cin), {});
    std::string target = channel_path(server, "/pub/", channel);
    if (!event.empty()) target += "?event=" + boost::urls::encode(event, boost::urls::unreserved_chars);
    auto request = request_to(server, http::verb::post, target);
    request.set(http::field::content_type, json_body ? "application/json" : "text/plain; charset=utf-8");
    request.body() = std::move(*data);
    request.prepare_payload();
    asio::io_context io;
    auto stream = connect(io, server);
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response<http::string_body> response;
    http::read(stream, buffer, response);
    if (response.result_int() / 100 != 2) return refused(response.result_int(), response.body());
    print_line(response.body());
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "herald: " << error.what() << "\n";
    return 2;
  }
}

int subscribe(const std::string& channel, const std::string& since, const std::string& transport) {
  try {
    Server server = server_from_environment();
    if (transport == "sse") return subscribe_sse(server, channel, since);
    if (transport == "longpoll") return subscribe_longpoll(server, channel, since);
    return subscribe_ws(server, channel, since);
  } catch (const std::exception& error) {
    std::cerr << "herald: " << error.what() << "\n";
    return 2;
  }
}

}  // namespace herald::cli

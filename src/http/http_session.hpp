#pragma once
// One HTTP/1.1 connection: reads requests within the limits, hands each to the router, writes the
// answers in order. A transport may hold the answer (long poll) or take the connection over (SSE,
// WebSocket).
#include <functional>
#include <memory>
#include <optional>

#include "access/admission.hpp"
#include "core/error.hpp"
#include "http/net_stream.hpp"
#include "http/origins.hpp"
#include "http/server_context.hpp"
#include "runtime/beast.hpp"

namespace herald {

class Hub;

// A peer's address, IPv4-mapped IPv6 addresses shown as the IPv4 they carry.
asio::ip::address plain_address(const tcp::endpoint& endpoint);

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(NetStream stream, ServerContext& context, Hub& hub);

  void start();

  // Writes the answer to the current request, then reads the next (or closes). `written` runs once
  // the answer is on the wire (or failed). Any Beast body type will do: the head is serialized once into
  // one buffer and written with the body's buffers in one gathered write (a poll's body is the shared
  // envelopes themselves), not walked buffer by buffer through Beast's serializer.
  template <class Body>
  void send(http::response<Body> response, std::function<void()>&& written = {}) {
    if (context_.shutting_down.load(std::memory_order_relaxed)) response.keep_alive(false);
    if (head_request_) response.body() = typename Body::value_type{};  // headers (and length) stay
    if (!cors_origin_.empty()) add_cors_headers(response.base(), cors_origin_);
    if (private_answers_ && response.find(http::field::cache_control) == response.end()) {
      response.set(http::field::cache_control, "no-store");
    }
    auto out = std::make_shared<OutgoingOf<Body>>(std::move(response));
    out->written = std::move(written);
    out->keep_alive = out->response.keep_alive();
    out->head = serialize_head(out->response.base());
    out->buffers.emplace_back(out->head.data(), out->head.size());
    error_code ec;
    typename Body::writer body(out->response.base(), out->response.body());
    body.init(ec);
    while (!ec) {
      auto next = body.get(ec);
      if (!next) break;
      const auto& buffers = next->first;
      for (auto it = asio::buffer_sequence_begin(buffers); it != asio::buffer_sequence_end(buffers); ++it) {
        out->buffers.emplace_back(*it);
      }
      if (!next->second) break;
    }
    write_out(std::move(out));
  }
  // While an answer is held: calls `gone` once if the client closes the connection first.
  void watch_for_disconnect(std::function<void()> gone);
  void stop_watching();

  // Gives the connection to a streaming transport; this session is finished afterwards. Bytes read past
  // the request are not handed on: a WebSocket client may not send before the handshake's answer (RFC 6455
  // section 4.1), and nothing pipelined behind a stream could ever be answered. The transport
  // takes the connection's admission ticket too, and holds it as long as the socket.
  NetStream take_stream();
  void hold(std::shared_ptr<void> ticket) { ticket_ = std::move(ticket); }
  std::shared_ptr<void> take_ticket();

  // Answers to the current request carry CORS headers for this (listed, cross-site) origin.
  void allow_cross_origin(std::string origin) { cors_origin_ = std::move(origin); }
  const std::string& cross_origin() const { return cors_origin_; }
  // Answers to the current request are kept by no cache (`Cache-Control: no-store` unless the answer sets
  // its own): set by the routes whose every answer carries a secret or someone's state (login, OAuth).
  void answer_privately(bool on) { private_answers_ = on; }

  ServerContext& context() { return context_; }
  const ServerContext& context() const { return context_; }
  auto get_executor() { return stream_.get_executor(); }
  Hub& hub() { return hub_; }
  const tcp::endpoint& remote() const { return remote_; }
  // Who sent the current request, as far as herald believes it (http/trust.hpp): the address per-address
  // limits count, and whether it is this machine.
  const Peer& peer() const { return peer_; }
  // The same, as channel admission (access/admission.hpp) takes it: address, this machine, whether the
  // request's Origin is herald's own or allowed, and its bearer token.
  Client client(const Request& request) const;
  // The request's Origin is herald's own (or the login's public URL) or listed in `allowed`.
  bool origin_ok(const Request& request, const std::vector<std::string>& allowed) const;

 private:
  // An answer on its way: its bytes (the head, and the buffers of a body that lives in the subclass).
  struct Outgoing {
    virtual ~Outgoing() = default;
    std::string head;
    std::vector<asio::const_buffer> buffers;
    std::function<void()> written;
    bool keep_alive = true;
  };
  template <class Body>
  struct OutgoingOf final : Outgoing {
    explicit OutgoingOf(http::response<Body> r) : response(std::move(r)) {}
    http::response<Body> response;
  };
  static std::string serialize_head(const http::response_header<>& head);
  void write_out(std::shared_ptr<Outgoing> out);

  void read_request();
  void on_header(error_code ec);
  void on_read(error_code ec);
  void reject_unreadable(error_code ec);
  // Behind a trusted proxy: a place under max_connections_per_ip for the client the request names.
  bool admit_forwarded_client();
  void reject(const Error& error);  // answers, then closes
  void end_write(error_code ec, std::size_t bytes, bool keep_alive, const std::function<void()>& written);

  NetStream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  ServerContext& context_;
  Hub& hub_;
  tcp::endpoint remote_;
  bool watching_ = false;
  std::string cors_origin_;
  bool private_answers_ = false;
  std::shared_ptr<void> ticket_;
  Peer peer_;
  std::string peer_text_;  // peer_.address as text
  asio::ip::address peer_text_of_;
  std::shared_ptr<void> client_ticket_;  // via a trusted proxy: the forwarded client's place
  asio::ip::address client_ticket_address_;
  bool head_request_ = false;  // answers to HEAD keep their headers (Content-Length too) but no body
};

}  // namespace herald

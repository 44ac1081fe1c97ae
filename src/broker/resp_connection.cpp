#include "broker/resp_connection.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>
#include <strings.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>

namespace herald {
namespace {

namespace asio = boost::asio;
using boost::asio::ip::tcp;

std::string_view text_of(const redisReply* reply) {
  if (reply == nullptr || reply->str == nullptr) return {};
  return {reply->str, reply->len};
}

bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

RespConnection::RespConnection(asio::io_context& io, RedisAddress address)
    : socket_(io),
      timer_(io),
      address_(std::move(address)),
      reader_(redisReaderCreate()),
      in_(std::size_t{64} * 1024) {}

RespConnection::~RespConnection() { redisReaderFree(reader_); }

void RespConnection::start(std::chrono::milliseconds timeout, const std::string& username, const std::string& password,
                           std::function<void(const std::string&)> closed) {
  closed_ = std::move(closed);
  if (!password.empty()) {
    auto check = [self = shared_from_this()](redisReply* reply) {
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        self->fail("AUTH refused: " + std::string(text_of(reply)));
      }
    };
    if (username.empty()) {
      send({"AUTH", password}, check);
    } else {
      send({"AUTH", username, password}, check);
    }
  }
  // A host name is resolved here, blocking this thread only (never an event loop).
  boost::system::error_code ec;
  tcp::resolver resolver(socket_.get_executor());
  auto endpoints = resolver.resolve(address_.host, std::to_string(address_.port), ec);
  if (ec) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), why = ec.message()] { self->fail(why); });
    return;
  }
  timer_.expires_after(timeout);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
    if (!error && !self->connected_) self->fail("timed out connecting");
  });
  asio::async_connect(socket_, endpoints,
                      [self = shared_from_this()](boost::system::error_code error, const tcp::endpoint&) {
                        if (self->done_) return;
                        if (error) return self->fail(error.message());
                        self->timer_.cancel();
                        self->connected_ = true;
                        self->socket_.set_option(tcp::no_delay(true));
                        self->write_more();
                        self->read_more();
                      });
}

void RespConnection::send(const std::vector<std::string_view>& args, Handler handler) {
  if (done_) return handler(nullptr);
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  char* command = nullptr;
  int length = redisFormatCommandArgv(&command, static_cast<int>(argv.size()), argv.data(), lengths.data());
  if (length < 0) return handler(nullptr);
  out_.append(command, static_cast<std::size_t>(length));
  std::free(command);
  std::string verb(args.empty() ? std::string_view{} : args[0]);
  for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string subject(args.size() > 1 ? args[1] : std::string_view{});
  waiting_.push_back({std::move(handler), std::move(verb), std::move(subject)});
  if (connected_) write_more();
}

void RespConnection::write_more() {
  if (!writing_.empty() || out_.empty() || done_) return;
  writing_.swap(out_);
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](boost::system::error_code error, std::size_t) {
                      if (self->done_) return;
                      if (error) return self->fail(error.message());
                      self->writing_.clear();
                      self->write_more();
                    });
}

// A sharded message, or a sunsubscribe no SUNSUBSCRIBE of ours is waiting for (the server's own, when
// the channel's slot left the node), answers no command.
bool RespConnection::is_push(const redisReply* reply) const {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) return false;
  std::string_view kind = text_of(reply->element[0]);
  if (same(kind, "smessage") || same(kind, "message")) return true;
  if (same(kind, "sunsubscribe")) {
    return reply->elements < 2 || waiting_.empty() || waiting_.front().verb != "SUNSUBSCRIBE" ||
           waiting_.front().subject != text_of(reply->element[1]);
  }
  return false;
}

void RespConnection::read_more() {
  socket_.async_read_some(
      asio::buffer(in_), [self = shared_from_this()](boost::system::error_code error, std::size_t size) {
        if (self->done_) return;
        if (error) return self->fail(error == asio::error::eof ? "closed by the server" : error.message());
        if (redisReaderFeed(self->reader_, self->in_.data(), size) != REDIS_OK) return self->fail("protocol error");
        while (!self->done_) {
          void* parsed = nullptr;
          if (redisReaderGetReply(self->reader_, &parsed) != REDIS_OK) return self->fail("protocol error");
          if (parsed == nullptr) break;
          std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(parsed), freeReplyObject);
          if (self->is_push(reply.get())) {
            if (self->push_) self->push_(reply.get());
            continue;
          }
          if (self->waiting_.empty()) return self->fail("a reply nobody asked for");
          Handler handler = std::move(self->waiting_.front().handler);
          self->waiting_.pop_front();
          handler(reply.get());
        }
        if (!self->done_) self->read_more();
      });
}

void RespConnection::fail(const std::string& why) {
  if (done_) return;
  close();
  if (auto closed = std::exchange(closed_, nullptr)) closed(why);
}

void RespConnection::close() {
  if (done_) return;
  done_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
  push_ = nullptr;
  for (auto& waiting : std::exchange(waiting_, {})) waiting.handler(nullptr);
}

}  // namespace herald

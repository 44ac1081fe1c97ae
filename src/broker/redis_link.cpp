#include "broker/redis_link.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

#include "broker/redis_asio.hpp"
#include "broker/redis_reply.hpp"
#include "broker/redis_sentinel.hpp"

namespace herald {
namespace {

namespace asio = boost::asio;
using redis_reply::text;

constexpr auto first_backoff = std::chrono::milliseconds(100);
constexpr auto max_backoff = std::chrono::milliseconds(1000);

}  // namespace

RedisLink::RedisLink(RedisOptions options, std::vector<std::string> scripts, std::string name, std::string slot_key)
    : options_(std::move(options)),
      scripts_(std::move(scripts)),
      shas_(scripts_.size()),
      name_(std::move(name)),
      work_(asio::make_work_guard(io_)),
      retry_timer_(io_),
      connect_timer_(io_),
      backoff_(first_backoff),
      slot_key_(std::move(slot_key)) {
  asio::post(io_, [this] { connect(); });
  thread_ = std::thread([this] { io_.run(); });
}

RedisLink::~RedisLink() { stop(); }

void RedisLink::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopping_ = true;
    retry_timer_.cancel();
    connect_timer_.cancel();
    // Freeing runs every pending callback with no reply.
    if (auto* c = std::exchange(context_, nullptr)) redisAsyncFree(c);
    if (cluster_) cluster_->stop();
    ready_ = false;
    for (auto& call : std::exchange(waiting_, {})) call();
    set_up(false);
    work_.reset();
  });
  thread_.join();
}

bool RedisLink::connected() const {
  std::lock_guard lock(up_mutex_);
  return up_;
}

bool RedisLink::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock lock(up_mutex_);
  return up_changed_.wait_for(lock, timeout, [this] { return up_; });
}

void RedisLink::set_up(bool up) {
  {
    std::lock_guard lock(up_mutex_);
    up_ = up;
  }
  up_changed_.notify_all();
}

// --- connection -------------------------------------------------------------------------------------

void RedisLink::connect() {
  if (stopping_) return;
  if (options_.clustered()) {
    for (std::size_t i = 0; i < scripts_.size(); ++i) shas_[i] = script_sha1(scripts_[i]);
    RedisCluster::Events events;
    events.up = [this](bool up) {
      ready_ = up;
      set_up(up);
    };
    cluster_ = std::make_unique<RedisCluster>(io_, options_, name_, std::move(events));
    return cluster_->start();
  }
  ready_ = false;
  loaded_ = 0;
  if (!options_.sentinels.empty()) {
    // Asked again at every attempt: after a failover the primary is elsewhere.
    std::string error;
    auto primary = find_primary(options_, error);
    if (!primary) return connection_failed(error);
    options_.host = primary->host;
    options_.port = primary->port;
  }
  // A host name is resolved here, blocking this thread only (never an event loop).
  context_ = redisAsyncConnect(options_.host.c_str(), options_.port);
  if (context_ == nullptr) return connection_failed("out of memory");
  if (context_->err != 0) {
    std::string error = context_->errstr;
    redisAsyncFree(std::exchange(context_, nullptr));
    return connection_failed(error);
  }
  context_->data = this;
  attach_to_asio(context_, io_);
  redisAsyncSetConnectCallback(context_, &RedisLink::on_connect);
  redisAsyncSetDisconnectCallback(context_, &RedisLink::on_disconnect);
  handshake();
  connect_timer_.expires_after(options_.connect_timeout);
  connect_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && !ready_) connection_failed("timed out connecting");
  });
}

// Commands are queued before the TCP connect completes; hiredis sends them once it does.
void RedisLink::handshake() {
  auto refused = [this](const char* what) {
    return [this, what](redisReply* reply) {
      if (reply == nullptr || reply->type != REDIS_REPLY_ERROR) return;
      if (!down_logged_) spdlog::error("redis ({}): {} refused: {}", name_, what, text(reply));
      down_logged_ = true;
      connection_failed(std::string(what) + " refused");
    };
  };
  if (!options_.password.empty()) {
    if (options_.username.empty()) {
      command({"AUTH", options_.password}, refused("AUTH"));
    } else {
      command({"AUTH", options_.username, options_.password}, refused("AUTH"));
    }
  }
  if (options_.db != 0) command({"SELECT", std::to_string(options_.db)}, refused("SELECT"));
  if (!options_.sentinels.empty()) {
    // Sentinel may still name a primary it is demoting: only a primary will do.
    command({"ROLE"}, [this](redisReply* reply) {
      if (reply == nullptr || reply->type == REDIS_REPLY_ERROR) return;
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0 || text(reply->element[0]) != "master") {
        connection_failed("not the primary (a failover is under way)");
      }
    });
  }
  for (std::size_t i = 0; i < scripts_.size(); ++i) {
    command({"SCRIPT", "LOAD", scripts_[i]}, [this, i, refused = refused("SCRIPT LOAD")](redisReply* reply) {
      if (reply == nullptr || reply->type != REDIS_REPLY_STRING) return refused(reply);
      shas_[i] = std::string(text(reply));
      if (++loaded_ < scripts_.size()) return;
      connect_timer_.cancel();
      ready_ = true;
      backoff_ = first_backoff;
      down_logged_ = false;
      if (ever_up_) {
        spdlog::warn("redis ({}): reachable again at {}:{}", name_, options_.host, options_.port);
      } else {
        spdlog::info("redis ({}): connected to {}:{} (db {})", name_, options_.host, options_.port, options_.db);
      }
      ever_up_ = true;
      set_up(true);
      for (auto& call : std::exchange(waiting_, {})) call();
    });
  }
}

void RedisLink::connection_failed(const std::string& reason) {
  if (stopping_) return;
  bool was_up = ready_;
  ready_ = false;
  connect_timer_.cancel();
  set_up(false);
  // Null the pointer before freeing: freeing a connected context calls on_disconnect, which then finds
  // nothing to do. Freeing answers the pending commands with no reply.
  if (auto* c = std::exchange(context_, nullptr)) redisAsyncFree(c);
  for (auto& call : std::exchange(waiting_, {})) call();
  if (was_up) {
    spdlog::error("redis ({}): lost the connection to {}:{} ({}); answering 503 until it returns", name_, options_.host,
                  options_.port, reason);
  } else if (!down_logged_) {
    spdlog::error("redis ({}): cannot reach {}:{} ({}); retrying", name_, options_.host, options_.port, reason);
  }
  down_logged_ = true;
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::duration_cast<std::chrono::milliseconds>(max_backoff));
  retry_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec && context_ == nullptr) connect();
  });
}

void RedisLink::on_connect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisLink*>(context->data);
  if (status == REDIS_OK) return;
  // hiredis frees the context after this callback.
  if (context == self->context_) self->context_ = nullptr;
  self->connection_failed(context->errstr);
}

void RedisLink::on_disconnect(const redisAsyncContext* context, int /*status*/) {
  auto* self = static_cast<RedisLink*>(context->data);
  if (context != self->context_) return;  // one we freed ourselves
  self->context_ = nullptr;
  self->connection_failed(context->err != 0 ? context->errstr : "closed by the server");
}

// --- commands ---------------------------------------------------------------------------------------

void RedisLink::on_reply(redisAsyncContext* /*context*/, void* reply, void* handler) {
  std::unique_ptr<ReplyHandler> owned(static_cast<ReplyHandler*>(handler));
  (*owned)(static_cast<redisReply*>(reply));
}

void RedisLink::command(const std::vector<std::string_view>& args, ReplyHandler handler) {
  if (context_ == nullptr) return handler(nullptr);
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (auto arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* owned = new ReplyHandler(std::move(handler));
  if (redisAsyncCommandArgv(context_, &RedisLink::on_reply, owned, static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    std::unique_ptr<ReplyHandler> failed(owned);
    (*failed)(nullptr);
  }
}

void RedisLink::run_script(std::size_t index, std::vector<std::string> args, ReplyHandler handler) {
  if (cluster_) {
    auto call = [this, args = std::move(args)](std::string_view verb, const std::string& body) {
      std::vector<std::string> argv{std::string(verb), body, "1", slot_key_};
      argv.insert(argv.end(), args.begin(), args.end());
      return argv;
    };
    return cluster_->command(
        slot_key_, call("EVALSHA", shas_[index]),
        [this, index, call, handler = std::move(handler)](redisReply* reply) mutable {
          if (reply != nullptr && reply->type == REDIS_REPLY_ERROR && text(reply).starts_with("NOSCRIPT")) {
            return cluster_->command(slot_key_, call("EVAL", scripts_[index]), std::move(handler));
          }
          handler(reply);
        });
  }
  auto shared = std::make_shared<std::vector<std::string>>(std::move(args));
  if (ready_) return send_script(index, shared, std::move(handler));
  if (context_ == nullptr) return handler(nullptr);  // Redis is away: fail at once
  waiting_.emplace_back([this, index, shared, handler = std::move(handler)]() mutable {
    if (!ready_) return handler(nullptr);
    send_script(index, shared, std::move(handler));
  });
}

// EVALSHA of a script loaded at connect; if Redis lost its script cache meanwhile (SCRIPT FLUSH), EVAL.
void RedisLink::send_script(std::size_t index, const std::shared_ptr<std::vector<std::string>>& args,
                            ReplyHandler handler) {
  auto call = [args](std::string_view verb, std::string_view body) {
    std::vector<std::string_view> argv{verb, body, "0"};
    argv.insert(argv.end(), args->begin(), args->end());
    return argv;
  };
  command(call("EVALSHA", shas_[index]), [this, index, call, handler = std::move(handler)](redisReply* reply) mutable {
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR && text(reply).starts_with("NOSCRIPT")) {
      return command(call("EVAL", scripts_[index]), std::move(handler));
    }
    bool demoted = reply != nullptr && reply->type == REDIS_REPLY_ERROR && text(reply).starts_with("READONLY");
    handler(reply);
    // The primary became a replica under us: reconnect (through Sentinel, to the new one).
    if (demoted && context_ != nullptr) connection_failed("the primary became a replica");
  });
}

}  // namespace herald

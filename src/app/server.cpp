#include "app/server.hpp"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>
#include <boost/asio/thread_pool.hpp>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "access/admission.hpp"
#include "access/user_connections.hpp"
#include "api/router.hpp"
#include "app/control.hpp"
#include "app/metrics_feed.hpp"
#include "app/reload.hpp"
#include "broker/memory_broker.hpp"
#include "broker/memory_presence.hpp"
#include "broker/redis_broker.hpp"
#include "http/listener.hpp"
#include "login/login_module.hpp"
#include "login/memory_login_store.hpp"
#include "login/redis_login_store.hpp"
#include "presence/presence.hpp"
#include "runtime/event_loops.hpp"

namespace herald {
namespace {

constexpr auto sweep_interval = std::chrono::seconds(60);
constexpr auto drain_check_interval = std::chrono::milliseconds(20);
constexpr auto login_tick_interval = std::chrono::seconds(1);

bool is_listened(const SubscriberCounts& counts, const std::string& channel) {
  auto found = counts.find(channel);
  return found && found->total() > 0;
}

// Keeps idle channels from piling up: the broker forgets aged-out channels nobody listens to.
void schedule_sweep(asio::steady_timer& timer, Broker& broker, SubscriberCounts& counts,
                    std::vector<RateLimiter*> limiters) {
  timer.expires_after(sweep_interval);
  timer.async_wait([&timer, &broker, &counts, limiters = std::move(limiters)](error_code ec) mutable {
    if (ec) return;
    counts.sweep();
    for (RateLimiter* limiter : limiters) {
      if (limiter != nullptr) limiter->sweep();
    }
    broker.sweep([&counts](const std::string& channel) { return is_listened(counts, channel); });
    schedule_sweep(timer, broker, counts, std::move(limiters));
  });
}

// Waits until every streaming connection has said goodbye and every answer is written, or the grace
// period ends, then stops.
void drain_then_stop(asio::steady_timer& timer, EventLoops& loops, const ServerContext& context,
                     std::chrono::steady_clock::time_point deadline) {
  std::size_t open = loops.open_streams() + context.responses_in_flight.load(std::memory_order_relaxed);
  if (open == 0 || std::chrono::steady_clock::now() >= deadline) {
    if (open > 0) spdlog::warn("shutdown: {} connections still busy at the deadline", open);
    return loops.stop();
  }
  timer.expires_after(drain_check_interval);
  timer.async_wait([&timer, &loops, &context, deadline](error_code ec) {
    if (!ec) drain_then_stop(timer, loops, context, deadline);
  });
}

// Expires login requests and rotates their QR codes (pushing each change to the waiting screen); the
// memory store now and then also forgets idle rate-limit buckets and expired sessions.
void schedule_login_tick(asio::steady_timer& timer, login::LoginModule& login) {
  timer.expires_after(login_tick_interval);
  timer.async_wait([&timer, &login](error_code ec) {
    if (ec) return;
    login.store->tick();
    schedule_login_tick(timer, login);
  });
}

// Ends members who left, refreshes the leases of those still here, reaps what dead nodes left.
// (And renews this node's leases of its users' connections: limits.max_connections_per_user.)
void schedule_presence_tick(asio::steady_timer& timer, Presence& presence, UserConnections& users) {
  timer.expires_after(std::chrono::seconds(1));
  timer.async_wait([&timer, &presence, &users](error_code ec) {
    if (ec) return;
    presence.tick(std::chrono::steady_clock::now());
    users.tick(std::chrono::steady_clock::now());
    schedule_presence_tick(timer, presence, users);
  });
}

// TLS 1.2 and 1.3 only, with the certificate chain and key from PEM files. Throws naming what failed.
ssl::context make_tls_context(const TlsSettings& settings) {
  ssl::context context(ssl::context::tls_server);
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  error_code ec;
  context.use_certificate_chain_file(settings.certificate_file, ec);
  if (ec) throw std::runtime_error("cannot use certificate_file " + settings.certificate_file + ": " + ec.message());
  context.use_private_key_file(settings.private_key_file, ssl::context::pem, ec);
  if (ec) throw std::runtime_error("cannot use private_key_file " + settings.private_key_file + ": " + ec.message());
  return context;
}

// The login's events live on herald's own channels, which clients cannot name on /sub, /pub or /ws.
void add_internal_namespaces(Config& config) {
  NamespaceSettings login_events;
  login_events.internal = true;
  login_events.history.max_messages = 20;
  login_events.history.max_age = std::chrono::seconds(config.login.request_ttl_seconds) + login::finished_kept_for;
  config.namespaces.by_namespace["_login"] = login_events;
  // The dashboard feed: a page that opens gets the last minute at once (?last=60) to draw its charts from.
  NamespaceSettings metrics_feed;
  metrics_feed.internal = true;
  metrics_feed.history.max_messages = 120;
  metrics_feed.history.max_age = std::chrono::seconds(150);
  config.namespaces.by_namespace["_metrics"] = metrics_feed;
}

// Each node publishes its own feed (with Redis, several nodes share the channel space; the dashboard
// shows the node that serves it).
std::string node_feed_channel() {
  std::random_device random;
  return fmt::format("_metrics:{:08x}{:08x}", random(), random());
}

// The login's store: in memory (and SQLite) on one node; in Redis, shared by every node, with the Redis broker.
// Events of the memory store go through the broker as publishes; the Redis store publishes them itself.
std::unique_ptr<login::LoginStore> make_login_store(const Config& config, Broker& broker) {
  login::Settings settings = login::settings_of(config.login);
  if (config.broker == "redis") {
    return std::make_unique<login::RedisLoginStore>(
        redis_options(config.redis), settings, config.namespaces.for_channel(login::events_channel("x")).history,
        [&broker](std::uint64_t events) { broker.count_published(events); });
  }
  auto sink = [&broker, &config](login::Event event) {
    auto made = make_publish_request(std::move(event.channel), std::move(event.name), std::move(event.data), true,
                                     config.limits.max_payload_bytes);
    if (auto* request = std::get_if<PublishRequest>(&made)) {
      broker.publish(std::move(*request), [](const auto&) {});
    } else {
      spdlog::error("login: an event could not be published: {}", std::get<Error>(made).message);
    }
  };
  return std::make_unique<login::MemoryLoginStore>(settings, std::move(sink), config.login.database);
}

// Runs `change` on loop 0 (the caller's thread) while every other loop waits in a handler of its own:
// the settings the loops read without a lock change while none of them reads.
void with_loops_paused(EventLoops& loops, const std::function<void()>& change) {
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t parked = 0, left = 0;
  bool released = false;
  const std::size_t others = loops.size() - 1;
  for (std::size_t i = 1; i < loops.size(); ++i) {
    asio::post(loops.context(i), [&] {
      std::unique_lock lock(mutex);
      ++parked;
      changed.notify_all();
      changed.wait(lock, [&] { return released; });
      ++left;
      changed.notify_all();
    });
  }
  std::unique_lock lock(mutex);
  changed.wait(lock, [&] { return parked == others; });
  change();
  released = true;
  changed.notify_all();
  changed.wait(lock, [&] { return left == others; });  // the locals above die when this returns
}

// Tells systemd (Type=notify) how the service is doing; nothing without $NOTIFY_SOCKET.
void notify_systemd(const std::string& state) { sd_notify(0, state.c_str()); }

}  // namespace

int run_server(const Config& given, const std::function<Config()>& reload) {
  Config config = given;
  add_internal_namespaces(config);
  auto [host, port] = split_host_port(config.listen);
  std::size_t threads = config.threads > 0 ? config.threads : std::max(1U, std::thread::hardware_concurrency());
  threads = std::min<std::size_t>(threads, 64);  // a loop is one bit of a channel's mask (EventLoops::dispatch)

  SubscriberCounts counts;
  std::unique_ptr<Broker> owned_broker;
  RedisBroker* redis = nullptr;
  if (config.broker == "redis") {
    auto made =
        std::make_unique<RedisBroker>(redis_options(config.redis), config.namespaces,
                                      [&counts](const std::string& channel) { return is_listened(counts, channel); });
    redis = made.get();
    owned_broker = std::move(made);
    spdlog::info("broker: redis (key prefix \"{}\")", config.redis.key_prefix);
  } else {
    owned_broker = std::make_unique<MemoryBroker>(config.namespaces, config.limits.idempotency_keys_per_channel);
  }
  Broker& broker = *owned_broker;
  // Presence's store: Redis shares the broker's connection and clock; one node keeps it in memory.
  MemoryPresence memory_presence;
  PresenceStore& presence_store = redis != nullptr ? static_cast<PresenceStore&>(*redis) : memory_presence;
  std::unique_ptr<login::LoginModule> login;
  login::RedisLoginStore* redis_login = nullptr;
  asio::thread_pool blocking(1);  // password hashing, away from the event loops
  if (config.login.enabled) {
    try {
      login =
          std::make_unique<login::LoginModule>(login::LoginModule{config.login, make_login_store(config, broker), {}});
    } catch (const std::exception& error) {
      spdlog::critical("login: {}", error.what());
      return 1;
    }
    redis_login = dynamic_cast<login::RedisLoginStore*>(login->store.get());
    login->run_blocking = [&blocking](std::function<void()> work) { asio::post(blocking, std::move(work)); };
  }
  std::unique_ptr<RateLimiter> publish_rate;
  if (config.limits.publishes_per_second > 0) {
    publish_rate = std::make_unique<RateLimiter>(config.limits.publishes_per_second, std::chrono::seconds(1));
  }
  auto gate = std::make_shared<ConnectionGate>(config.limits.max_connections, config.limits.max_connections_per_ip);
  std::unique_ptr<RateLimiter> client_publish_rate;
  if (config.limits.client_publishes_per_second > 0) {
    client_publish_rate =
        std::make_unique<RateLimiter>(config.limits.client_publishes_per_second, std::chrono::seconds(1));
  }
  // Before the event loops: connections hold members until they are destroyed with the loops.
  Presence presence(
      presence_store, broker,
      {.lease = std::chrono::seconds(config.limits.presence_lease_seconds),
       .linger = std::chrono::seconds(config.limits.presence_linger_seconds),
       .max_payload_bytes = config.limits.max_payload_bytes,
       .members_per_address = config.limits.presence_members_per_address,
       .join_rate = client_publish_rate.get(),
       .identified =
           [&config](const std::string& channel) { return config.namespaces.for_channel(channel).identified; }},
      [&counts](const std::string& channel) { return is_listened(counts, channel); });
  Trust trust(config);
  const Admission admission(config, publish_rate.get(), client_publish_rate.get(), &presence);
  UserConnections user_connections(broker, config.limits.max_connections_per_user,
                                   std::chrono::seconds(config.limits.presence_lease_seconds));
  // A reload replaces the TLS context; the ones before stay while connections made with them may live.
  std::list<ssl::context> tls_contexts;
  if (config.tls.enabled()) {
    try {
      tls_contexts.push_back(make_tls_context(config.tls));
    } catch (const std::exception& error) {
      spdlog::critical("tls: {}", error.what());
      return 1;
    }
  }
  ssl::context* tls = tls_contexts.empty() ? nullptr : &tls_contexts.back();
  ServerContext context{.config = config,
                        .broker = broker,
                        .counts = counts,
                        .login = login.get(),
                        .publish_rate = publish_rate.get(),
                        .client_publish_rate = client_publish_rate.get(),
                        .presence = &presence,
                        .tls = tls,
                        .gate = gate,
                        .trust = &trust,
                        .admission = &admission,
                        .user_connections = &user_connections,
                        .handle_request = route_request};
  EventLoops loops(threads, counts);
  broker.set_sink([&loops](const MessagePtr& message) { loops.dispatch(message); });
  Control control(broker, loops, counts);
  context.ask_cluster = [&control](const std::string& query, ServerContext::ClusterAnswers done) {
    control.ask(query, std::move(done));
  };
  control.start();

  auto broker_up = [redis] { return redis == nullptr || redis->connected(); };
  context.broker_ready = broker_up;
  const login::LoginStore* login_store = login ? login->store.get() : nullptr;
  // herald's own namespaces are fixed at startup (a reload keeps them): the dashboard feed's thread asks
  // this, so it must not read the namespaces a reload replaces.
  std::set<std::string, std::less<>> internal;
  for (const auto& [name, settings] : config.namespaces.by_namespace) {
    if (settings.internal) internal.insert(name);
  }
  auto listed = [internal](const std::string& channel) { return !internal.contains(namespace_of(channel)); };
  MetricsSources metric_sources{loops, counts, *gate, login_store, broker, config.broker, broker_up, listed};
  std::optional<DashboardFeed> feed;
  if (config.metrics.enabled) {
    context.metrics_text = [&metric_sources] { return render_prometheus(collect_metrics(metric_sources)); };
    context.metrics_channel = node_feed_channel();
    feed.emplace(metric_sources, broker, context.metrics_channel);
  }

  std::shared_ptr<Listener> listener;
  try {
    listener = std::make_shared<Listener>(loops, context, tcp::endpoint(asio::ip::make_address(host), port));
  } catch (const boost::system::system_error& error) {
    // One line a person can act on; what() would add Boost's source location.
    spdlog::critical("cannot listen on {}: {}{}", config.listen, error.code().message(),
                     error.code() == asio::error::address_in_use
                         ? " (another program, perhaps another herald, has that port: stop it, or pick another "
                           "with --listen)"
                         : "");
    return 1;
  } catch (const std::exception& error) {
    spdlog::critical("cannot listen on {}: {}", config.listen, error.what());
    return 1;
  }
  asio::steady_timer sweep_timer(loops.context(0));
  schedule_sweep(sweep_timer, broker, counts, {publish_rate.get(), client_publish_rate.get()});

  asio::steady_timer login_timer(loops.context(0));
  if (login) schedule_login_tick(login_timer, *login);

  asio::steady_timer presence_timer(loops.context(0));
  schedule_presence_tick(presence_timer, presence, user_connections);

  asio::steady_timer drain_timer(loops.context(0));
  asio::signal_set hangups(loops.context(0), SIGHUP);
  asio::signal_set signals(loops.context(0), SIGINT, SIGTERM);
  signals.async_wait([&](error_code ec, int signal) {
    if (ec) return;
    spdlog::info("shutdown: signal {}; clients told to come back within {} s; draining for at most {} s", signal,
                 config.limits.drain_window_seconds, config.limits.shutdown_grace_seconds);
    notify_systemd("STOPPING=1");
    context.shutting_down = true;
    hangups.cancel();
    listener->stop();
    sweep_timer.cancel();
    login_timer.cancel();
    presence_timer.cancel();
    if (feed) feed->stop();
    loops.post_to_all([](Hub& hub) { hub.close_all(CloseReason::shutdown); });
    drain_then_stop(drain_timer, loops, context,
                    std::chrono::steady_clock::now() + std::chrono::seconds(config.limits.shutdown_grace_seconds));
  });

  // SIGHUP: read the config again and take what can change live (app/reload.hpp). A config that does not
  // load is refused with its reason; the running one stays.
  std::function<void()> await_hangup = [&] {
    hangups.async_wait([&](error_code ec, int) {
      if (ec || context.shutting_down) return;
      notify_systemd(fmt::format(
          "RELOADING=1\nMONOTONIC_USEC={}",
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
              .count()));
      try {
        if (!reload) throw std::runtime_error("herald was started without --config: there is nothing to read again");
        Config next = reload();
        std::optional<ssl::context> next_tls;
        if (tls != nullptr && next.tls.enabled()) next_tls.emplace(make_tls_context(next.tls));
        for (const auto& name : needs_restart(config, next)) {
          spdlog::warn("reload: '{}' changed; it takes effect at the next restart", name);
        }
        with_loops_paused(loops, [&] {
          apply_live(config, next);
          trust = Trust(config);
          gate->set_limits(config.limits.max_connections, config.limits.max_connections_per_ip);
          if (next_tls) {
            tls = &tls_contexts.emplace_back(std::move(*next_tls));
            context.tls = tls;
          }
        });
        spdlog::set_level(spdlog::level::from_str(config.log_level));
        spdlog::info("reload: applied the new config");
      } catch (const std::exception& error) {
        spdlog::error("reload: refused, the running config stays: {}", error.what());
      }
      notify_systemd("READY=1");
      await_hangup();
    });
  };
  await_hangup();

  auto bound = listener->local_endpoint();
  std::string shown_host = bound.address().to_string();
  if (bound.address().is_v6()) shown_host = fmt::format("[{}]", shown_host);
  spdlog::info("listening on {}://{}:{} with {} event loops, web root {}", tls ? "https" : "http", shown_host,
               bound.port(), threads, config.web_root);
  listener->start();
  if (feed) feed->start();
  notify_systemd("READY=1\nSTATUS=listening");

  loops.run();
  blocking.join();
  // The Redis broker's and login store's threads post answers to the loops: end them while they still exist.
  if (redis_login != nullptr) redis_login->stop();
  if (redis != nullptr) redis->stop();
  spdlog::info("shutdown: done");
  return 0;
}

}  // namespace herald

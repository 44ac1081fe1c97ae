#include "config/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "app/reload.hpp"

namespace herald {
namespace {

// Writes `text` to a temporary file and loads it.
Config load(const std::string& text) {
  auto path = std::filesystem::temp_directory_path() / ("herald-config-test-" + std::to_string(::getpid()) + ".toml");
  std::ofstream(path) << text;
  struct Remove {
    std::filesystem::path path;
    ~Remove() { std::filesystem::remove(path); }
  } remove{path};
  return load_config(path.string());
}

std::string error_of(const std::string& text) {
  try {
    load(text);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

TEST(Config, DefaultsAreTheDocumentedOnes) {
  Config config = load("");
  EXPECT_EQ(config.listen, "127.0.0.1:8080");
  EXPECT_EQ(config.limits.max_payload_bytes, 65536U);
  EXPECT_EQ(config.limits.longpoll_max_wait_seconds, 60U);
  EXPECT_EQ(config.limits.sse_heartbeat_seconds, 15U);
  EXPECT_EQ(config.namespaces.defaults.history.max_messages, 100U);
  EXPECT_EQ(config.namespaces.defaults.history.max_age, std::chrono::hours(1));
  EXPECT_FALSE(config.namespaces.defaults.client_publish);
}

TEST(Config, NamespacesInheritHistoryDefaults) {
  Config config = load(
      "[history]\nsize = 7\nttl_seconds = 60\n"
      "[namespace.chat]\nclient_publish = true\n"
      "[namespace.small]\nhistory_size = 2\n");
  const auto& chat = config.namespaces.for_channel("chat:lobby");
  EXPECT_TRUE(chat.client_publish);
  EXPECT_EQ(chat.history.max_messages, 7U);
  EXPECT_EQ(chat.history.max_age, std::chrono::seconds(60));
  EXPECT_EQ(config.namespaces.for_channel("small:x").history.max_messages, 2U);
  EXPECT_EQ(config.namespaces.for_channel("other").history.max_messages, 7U);
}

TEST(Config, RefusesTyposAndWrongTypesByName) {
  EXPECT_NE(error_of("lisen = \"x:1\"").find("unknown setting 'lisen'"), std::string::npos);
  EXPECT_NE(error_of("[limits]\nmax_payload = 1").find("unknown setting 'limits.max_payload'"), std::string::npos);
  EXPECT_NE(error_of("threads = \"two\"").find("'threads' must be a non-negative integer"), std::string::npos);
  EXPECT_NE(error_of("threads = 99999999999").find("'threads' must be a non-negative integer"), std::string::npos);
  EXPECT_NE(error_of("[limits]\npoll_batch_limit = 0").find("at least 1"), std::string::npos);
  EXPECT_NE(error_of("[namespace.chat]\nclient_publish = 1").find("namespace.chat.client_publish"), std::string::npos);
  EXPECT_NE(error_of("listen = \"nowhere\"").find("HOST:PORT"), std::string::npos);
  EXPECT_NE(error_of("log_level = \"loud\"").find("log level 'loud'"), std::string::npos);
  EXPECT_NE(error_of("this is not toml").find(".toml"), std::string::npos);
}

TEST(Config, NamesTheRemovedMaxNumberAttempts) {
  EXPECT_NE(error_of("[login]\nmax_number_attempts = 3").find("'login.max_number_attempts' is gone: one wrong number"),
            std::string::npos);
}

TEST(Config, SlowConsumersAreClosedUnlessTheyCatchUp) {
  EXPECT_EQ(load("").limits.slow_consumer, SlowConsumer::close);
  EXPECT_EQ(load("[limits]\nslow_consumer = \"catch_up\"").limits.slow_consumer, SlowConsumer::catch_up);
  EXPECT_EQ(load("[limits]\nslow_consumer = \"close\"").limits.slow_consumer, SlowConsumer::close);
  EXPECT_NE(error_of("[limits]\nslow_consumer = \"skip\"").find(R"(must be "close" or "catch_up")"), std::string::npos);
}

TEST(Config, SseSocketsKeepNoDelayUnlessToldOtherwise) {
  EXPECT_TRUE(load("").limits.sse_tcp_nodelay);
  EXPECT_FALSE(load("[limits]\nsse_tcp_nodelay = false").limits.sse_tcp_nodelay);
  EXPECT_NE(error_of("[limits]\nsse_tcp_nodelay = \"no\"").find("sse_tcp_nodelay"), std::string::npos);
}

TEST(Config, IdempotencyAndBroadcastLimits) {
  Config defaults = load("");
  EXPECT_EQ(defaults.limits.idempotency_seconds, 300U);
  EXPECT_EQ(defaults.limits.idempotency_keys_per_channel, 10000U);
  EXPECT_EQ(defaults.limits.broadcast_max_channels, 100U);
  Config set = load("[limits]\nidempotency_seconds = 60\nidempotency_keys_per_channel = 5\nbroadcast_max_channels = 7");
  EXPECT_EQ(set.limits.idempotency_seconds, 60U);
  EXPECT_EQ(set.limits.idempotency_keys_per_channel, 5U);
  EXPECT_EQ(set.limits.broadcast_max_channels, 7U);
  for (const char* key : {"idempotency_seconds", "idempotency_keys_per_channel", "broadcast_max_channels"}) {
    EXPECT_NE(
        error_of(std::string("[limits]\n") + key + " = 0").find("'limits." + std::string(key) + "' must be at least 1"),
        std::string::npos);
  }
}

TEST(Config, ChoosesTheBrokerAndReadsRedisSettings) {
  EXPECT_EQ(load("").broker, "memory");
  Config config = load(
      "broker = \"redis\"\n[redis]\nurl = \"redis://:inurl@cache:6380/3\"\npassword = \"s3cret\"\n"
      "key_prefix = \"eu:\"\nconnect_timeout_ms = 500\n");
  EXPECT_EQ(config.broker, "redis");
  RedisOptions options = redis_options(config.redis);
  EXPECT_EQ(options.host, "cache");
  EXPECT_EQ(options.port, 6380);
  EXPECT_EQ(options.db, 3U);
  EXPECT_EQ(options.password, "s3cret");  // the setting wins over the URL
  EXPECT_EQ(options.key_prefix, "eu:");
  EXPECT_EQ(options.connect_timeout, std::chrono::milliseconds(500));
}

TEST(Config, RefusesRedisSettingsItCannotHonour) {
  EXPECT_NE(error_of("broker = \"kafka\"").find("broker 'kafka'"), std::string::npos);
  EXPECT_NE(error_of("broker = \"redis\"\n[redis]\ntls = true").find("unknown setting 'redis.tls'"), std::string::npos);
  EXPECT_NE(error_of("broker = \"redis\"\n[redis]\nurl = \"rediss://h\"").find("TLS"), std::string::npos);
  EXPECT_NE(error_of("broker = \"redis\"\n[redis]\nurl = \"http://h\"").find("redis://"), std::string::npos);
  EXPECT_NE(error_of("[redis]\nhost = \"h\"").find("unknown setting 'redis.host'"), std::string::npos);
}

TEST(Config, ReadsRedisClusterAndSentinelSettings) {
  RedisOptions cluster = redis_options(load("broker = \"redis\"\n[redis]\nurl = \"redis://:pw@x\"\ncluster = "
                                            "[\"10.0.0.1:7000\", \"[::1]:7001\", \"c\"]\n")
                                           .redis);
  ASSERT_EQ(cluster.cluster.size(), 3U);
  EXPECT_EQ(cluster.cluster[0].host, "10.0.0.1");
  EXPECT_EQ(cluster.cluster[0].port, 7000);
  EXPECT_EQ(cluster.cluster[1].host, "::1");
  EXPECT_EQ(cluster.cluster[1].port, 7001);
  EXPECT_EQ(cluster.cluster[2].port, 6379);
  EXPECT_EQ(cluster.password, "pw");
  EXPECT_TRUE(cluster.clustered());
  RedisOptions sentinel = redis_options(
      load("broker = \"redis\"\n[redis]\nsentinels = [\"s1\", \"s2:5000\"]\nmaster_name = \"main\"\n").redis);
  ASSERT_EQ(sentinel.sentinels.size(), 2U);
  EXPECT_EQ(sentinel.sentinels[0].port, 26379);  // Sentinel's own port when none is given
  EXPECT_EQ(sentinel.sentinels[1].port, 5000);
  EXPECT_EQ(sentinel.master_name, "main");
  EXPECT_FALSE(sentinel.clustered());
  EXPECT_TRUE(sentinel.follows_failover());
}

// The broker connects where [redis] says when it starts: a reload that moves it to a cluster or to other
// sentinels says it needs a restart rather than seem to take it.
TEST(Config, WhereRedisIsNeedsARestart) {
  Config running;
  for (auto change : std::vector<std::function<void(RedisSettings&)>>{
           [](RedisSettings& r) { r.cluster = {"10.0.0.1:7000"}; },
           [](RedisSettings& r) { r.sentinels = {"10.0.0.1:26379"}; },
           [](RedisSettings& r) { r.master_name = "other"; },
       }) {
    Config next = running;
    change(next.redis);
    EXPECT_EQ(needs_restart(running, next), std::vector<std::string>{"redis"});
  }
}

TEST(Config, RefusesRedisClusterAndSentinelSettingsThatCannotWork) {
  auto redis = [](const std::string& table) { return error_of("broker = \"redis\"\n[redis]\n" + table); };
  EXPECT_NE(redis("cluster = [\"a:1\"]\nsentinels = [\"b:2\"]\nmaster_name = \"m\"").find("not both"),
            std::string::npos);
  EXPECT_NE(redis("cluster = [\"a:1\"]\nurl = \"redis://h/2\"").find("only database 0"), std::string::npos);
  EXPECT_NE(redis("cluster = [\"a:x\"]").find("port"), std::string::npos);
  EXPECT_NE(redis("cluster = [\":1\"]").find("redis.cluster"), std::string::npos);
  EXPECT_NE(redis("sentinels = [\"s\"]").find("redis.master_name"), std::string::npos);
  EXPECT_NE(redis("master_name = \"m\"").find("redis.sentinels is empty"), std::string::npos);
}

TEST(Config, MetricsAreOnForThisMachineByDefaultAndCanBeOpenedOrTurnedOff) {
  Config defaults = load("");
  EXPECT_TRUE(defaults.metrics.enabled);
  EXPECT_FALSE(defaults.metrics.public_access);
  Config set = load("[metrics]\nenabled = false\npublic = true\n");
  EXPECT_FALSE(set.metrics.enabled);
  EXPECT_TRUE(set.metrics.public_access);
  EXPECT_NE(error_of("[metrics]\nopen = true\n").find("metrics.open"), std::string::npos);
}

TEST(Config, SplitsHostAndPort) {
  EXPECT_EQ(split_host_port("127.0.0.1:0"), (std::pair<std::string, std::uint16_t>{"127.0.0.1", 0}));
  EXPECT_EQ(split_host_port("[::1]:8080"), (std::pair<std::string, std::uint16_t>{"::1", 8080}));
  EXPECT_THROW(split_host_port("host:70000"), std::runtime_error);
  EXPECT_THROW(split_host_port("host:"), std::runtime_error);
}

// A config names its files relative to itself, not to the directory herald happens to start in.
TEST(Config, RelativePathsAreRelativeToTheConfigFile) {
  auto dir = std::filesystem::temp_directory_path() / ("herald-config-dir-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "etc");
  auto path = dir / "etc" / "herald.toml";
  std::ofstream(path) << "web_root = \"../share/web\"\n[login]\ndatabase = \"var/herald.db\"\n"
                         "[tls]\ncertificate_file = \"/abs/cert.pem\"\nprivate_key_file = \"key.pem\"\n";
  Config config = load_config(path.string());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(config.web_root, (dir / "share" / "web").string());
  EXPECT_EQ(config.login.database, (dir / "etc" / "var" / "herald.db").string());
  EXPECT_EQ(config.tls.certificate_file, "/abs/cert.pem");
  EXPECT_EQ(config.tls.private_key_file, (dir / "etc" / "key.pem").string());
}

TEST(Config, SqliteNamesAreNotPaths) {
  Config config = load("[login]\ndatabase = \":memory:\"\n");
  EXPECT_EQ(config.login.database, ":memory:");
}

}  // namespace
}  // namespace herald

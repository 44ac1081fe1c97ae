// herald: one channel, heard four ways. `herald serve` runs the server; `herald users` manages the
// built-in login accounts (in the login store the server uses); `herald pub` and `herald sub` publish and
// listen from a shell; `herald --version` says which.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <filesystem>
#include <future>
#include <iostream>

#include "app/cli_client.hpp"
#include "app/server.hpp"
#include "config/config.hpp"
#include "login/login_module.hpp"
#include "login/memory_login_store.hpp"
#include "login/passwords.hpp"
#include "login/redis_login_store.hpp"

namespace {

void setup_logging(const std::string& level) {
  // One line per event on stderr: time, level, what happened.
  spdlog::set_default_logger(spdlog::stderr_color_mt("herald"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

// The accounts `herald users` manages: the login store the server of this config uses (Redis with
// broker = "redis", so every node sees the change; else the SQLite file login.database).
struct AccountStore {
  std::unique_ptr<herald::login::LoginStore> store;
  std::string where;
};

AccountStore open_accounts(const herald::Config& config) {
  herald::login::Settings settings = herald::login::settings_of(config.login);
  if (config.broker == "redis") {
    herald::RedisOptions options = herald::redis_options(config.redis);
    auto store = std::make_unique<herald::login::RedisLoginStore>(options, settings, herald::HistoryLimits{});
    if (!store->wait_connected(options.connect_timeout + std::chrono::seconds(1))) {
      throw std::runtime_error("cannot reach Redis at " + options.host + ":" + std::to_string(options.port));
    }
    return {std::move(store), "Redis at " + options.host + ":" + std::to_string(options.port)};
  }
  return {std::make_unique<herald::login::MemoryLoginStore>(
              settings, [](const herald::login::Event&) {}, config.login.database),
          config.login.database};
}

// Waits for the store's answer to `call` (this thread runs no event loop: the answer comes from the store's
// own thread, or at once). A refusal is thrown.
template <typename T>
T wait_for(const std::function<void(herald::login::Reply<T>)>& call) {
  std::promise<herald::login::Answer<T>> promise;
  call([&promise](herald::login::Answer<T> answer) { promise.set_value(std::move(answer)); });
  auto answer = promise.get_future().get();
  if (auto* refusal = std::get_if<herald::login::Refusal>(&answer)) throw std::runtime_error(refusal->message);
  return std::get<T>(std::move(answer));
}

std::string read_password(std::string password, bool password_stdin) {
  if (password_stdin) std::getline(std::cin, password);
  return password;
}

// The config to read when --config is not given: the installed one, when there is one.
std::string default_config() {
  std::error_code ignored;
  return std::filesystem::exists(HERALD_DEFAULT_CONFIG, ignored) ? HERALD_DEFAULT_CONFIG : "";
}

// `herald users add|list|remove|passwd`, on the accounts of the config's store.
int run_users(const std::string& config_path, const std::string& action, const std::string& name, std::string password,
              bool password_stdin, bool if_missing) {
  using herald::login::Reply;
  try {
    // Without a config, the built-in defaults would name a database in whatever directory this shell is in.
    if (config_path.empty()) {
      throw std::runtime_error("say whose accounts with --config FILE (the installed " HERALD_DEFAULT_CONFIG
                               " does not exist)");
    }
    herald::Config config = herald::load_config(config_path);
    AccountStore accounts = open_accounts(config);
    auto& store = *accounts.store;
    if (action == "list") {
      auto names = wait_for<std::vector<std::string>>(
          [&](Reply<std::vector<std::string>> done) { store.users(std::move(done)); });
      for (const auto& user : names) std::cout << user << "\n";
      return 0;
    }
    if (action == "remove") {
      if (!wait_for<bool>([&](Reply<bool> done) { store.remove_user(name, std::move(done)); })) {
        std::cerr << "herald: no user '" << name << "'\n";
        return 1;
      }
      std::cout << "removed user " << name << " from " << accounts.where << " (and ended their sessions)\n";
      return 0;
    }
    password = read_password(std::move(password), password_stdin);
    if (password.empty()) {
      std::cerr << "herald: give the password with --password or --password-stdin\n";
      return 2;
    }
    std::string hash = herald::login::hash_password(password);
    if (action == "passwd") {
      if (!wait_for<bool>([&](Reply<bool> done) { store.set_password(name, hash, std::move(done)); })) {
        std::cerr << "herald: no user '" << name << "'\n";
        return 1;
      }
      std::cout << "changed the password of " << name << " in " << accounts.where << " (and ended their sessions)\n";
      return 0;
    }
    if (!wait_for<bool>([&](Reply<bool> done) { store.add_user(name, hash, std::move(done)); })) {
      if (if_missing) return 0;
      std::cerr << "herald: user '" << name << "' already exists\n";
      return 1;
    }
    std::cout << "added user " << name << " to " << accounts.where << "\n";
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "herald: " << error.what() << "\n";
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"herald: a real-time push server (interval poll, long poll, SSE, WebSocket)"};
  app.set_version_flag("--version", std::string("herald ") + HERALD_VERSION);
  app.require_subcommand(1);

  std::string config_path, listen, log_level;
  unsigned threads = 0;
  auto* serve = app.add_subcommand("serve", "Run the server");
  serve->add_option("--config", config_path, "TOML file with the settings (see docs/config.md)")
      ->check(CLI::ExistingFile);
  serve->add_option("--listen", listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 picks a free one)");
  serve->add_option("--threads", threads, "Event loops (default: one per core)");
  serve->add_option("--log-level", log_level, "trace, debug, info, warn, error");

  auto* users = app.add_subcommand("users", "Manage the built-in login accounts");
  users->require_subcommand(1);
  std::string users_config, user_name, password;
  bool password_stdin = false, if_missing = false;
  users
      ->add_option("--config", users_config,
                   "TOML file naming the login store (login.database; with broker = \"redis\", [redis])")
      ->check(CLI::ExistingFile);
  auto* add = users->add_subcommand("add", "Add an account (its password is stored as an Argon2id hash)");
  add->add_option("name", user_name, "Account name")->required();
  add->add_option("--password", password, "The password (visible to other local users: prefer --password-stdin)");
  add->add_flag("--password-stdin", password_stdin, "Read the password from the first line of standard input");
  add->add_flag("--if-missing", if_missing, "Succeed without change when the account exists");
  auto* list = users->add_subcommand("list", "List the accounts");
  auto* remove = users->add_subcommand("remove", "Remove an account and end its sessions");
  remove->add_option("name", user_name, "Account name")->required();
  auto* passwd = users->add_subcommand("passwd", "Set an account's password and end its sessions");
  passwd->add_option("name", user_name, "Account name")->required();
  passwd->add_option("--password", password,
                     "The new password (visible to other local users: prefer --password-stdin)");
  passwd->add_flag("--password-stdin", password_stdin, "Read the new password from the first line of standard input");
  for (auto* command : {add, list, remove, passwd}) command->fallthrough();

  // From a shell, against $HERALD_URL (default http://127.0.0.1:8080) with the key $HERALD_KEY.
  std::string channel, data, since, transport = "sse", event;
  bool json_body = false;
  auto* pub = app.add_subcommand("pub", "Publish to a channel of $HERALD_URL (key: $HERALD_KEY)");
  pub->add_option("channel", channel, "Channel")->required();
  auto* data_given = pub->add_option("data", data, "The message; - or nothing: standard input");
  pub->add_flag("--json", json_body, "The message is JSON (otherwise text)");
  pub->add_option("--event", event, "Event name");
  auto* sub = app.add_subcommand("sub", "Listen to a channel of $HERALD_URL: one message envelope (JSON) a line");
  sub->add_option("channel", channel, "Channel")->required();
  sub->add_option("--since", since, "Resume after this cursor (a message's id)");
  sub->add_option("--transport", transport, "sse, longpoll or ws")->check(CLI::IsMember({"sse", "longpoll", "ws"}));

  CLI11_PARSE(app, argc, argv);

  if (pub->parsed()) {
    bool from_stdin = data_given->count() == 0 || data == "-";
    return herald::cli::publish(channel, from_stdin ? std::nullopt : std::optional(data), json_body, event);
  }
  if (sub->parsed()) return herald::cli::subscribe(channel, since, transport);

  if (users->parsed()) {
    setup_logging("warn");  // on stderr: standard output is the command's answer (`users list`)
    std::string action = list->parsed() ? "list" : remove->parsed() ? "remove" : passwd->parsed() ? "passwd" : "add";
    if (users_config.empty()) users_config = default_config();
    return run_users(users_config, action, user_name, password, password_stdin, if_missing);
  }

  if (config_path.empty()) config_path = default_config();
  // The file with the command line over it; again on SIGHUP.
  auto load = [&] {
    herald::Config config;
    if (!config_path.empty()) config = herald::load_config(config_path);
    if (!listen.empty()) config.listen = listen;
    if (threads > 0) config.threads = threads;
    if (!log_level.empty()) config.log_level = log_level;
    herald::validate(config);
    return config;
  };
  herald::Config config;
  try {
    config = load();
  } catch (const std::exception& error) {
    std::cerr << "herald: " << error.what() << "\n";
    return 2;
  }
  setup_logging(config.log_level);
  if (config_path.empty()) {
    spdlog::info("no --config (and no {}): built-in defaults, paths relative to this directory", HERALD_DEFAULT_CONFIG);
    return herald::run_server(config);
  }
  spdlog::info("config: {}", config_path);
  return herald::run_server(config, load);
}

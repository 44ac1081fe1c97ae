// herald: one channel, heard four ways. `herald serve` runs the server; `herald users` manages the
// built-in login accounts; `herald --version` says which.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/server.hpp"
#include "config/config.hpp"
#include "login/accounts.hpp"

namespace {

void setup_logging(const std::string& level) {
  // One line per event on stderr: time, level, what happened.
  spdlog::set_default_logger(spdlog::stderr_color_mt("herald"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

// `herald users add NAME` / `herald users list`, on the database the config names.
int run_users(const std::string& config_path, const std::string& action, const std::string& name, std::string password,
              bool password_stdin, bool if_missing) {
  try {
    herald::Config config;
    if (!config_path.empty()) config = herald::load_config(config_path);
    herald::login::Accounts accounts(config.login.database);
    if (action == "list") {
      for (const auto& user : accounts.users()) std::cout << user << "\n";
      return 0;
    }
    if (password_stdin) std::getline(std::cin, password);
    if (password.empty()) {
      std::cerr << "herald: give the password with --password or --password-stdin\n";
      return 2;
    }
    if (!accounts.add_user(name, password)) {
      if (if_missing) return 0;
      std::cerr << "herald: user '" << name << "' already exists\n";
      return 1;
    }
    std::cout << "added user " << name << " to " << config.login.database << "\n";
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
  users->add_option("--config", users_config, "TOML file naming the login database (login.database)")
      ->check(CLI::ExistingFile);
  auto* add = users->add_subcommand("add", "Add an account (its password is stored as an Argon2id hash)");
  add->add_option("name", user_name, "Account name")->required();
  add->add_option("--password", password, "The password (visible to other local users: prefer --password-stdin)");
  add->add_flag("--password-stdin", password_stdin, "Read the password from the first line of standard input");
  add->add_flag("--if-missing", if_missing, "Succeed without change when the account exists");
  auto* list = users->add_subcommand("list", "List the accounts");
  add->fallthrough();
  list->fallthrough();

  CLI11_PARSE(app, argc, argv);

  if (users->parsed()) {
    return run_users(users_config, list->parsed() ? "list" : "add", user_name, password, password_stdin, if_missing);
  }

  herald::Config config;
  try {
    if (!config_path.empty()) config = herald::load_config(config_path);
    if (!listen.empty()) config.listen = listen;
    if (threads > 0) config.threads = threads;
    if (!log_level.empty()) config.log_level = log_level;
    herald::validate(config);
  } catch (const std::exception& error) {
    std::cerr << "herald: " << error.what() << "\n";
    return 2;
  }
  setup_logging(config.log_level);
  return herald::run_server(config);
}

// herald: one channel, heard four ways. `herald serve` runs the server; `herald --version` says which.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <iostream>

#include "app/server.hpp"
#include "config/config.hpp"

namespace {

void setup_logging(const std::string& level) {
  // One line per event on stderr: time, level, what happened.
  spdlog::set_default_logger(spdlog::stderr_color_mt("herald"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
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

  CLI11_PARSE(app, argc, argv);

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

// scopehub: the telescope control server. With no arguments it listens on
// 127.0.0.1:8000 with three simulated Seestars; see --long-help and
// config/scopehub.conf for every option.

#include <cstdio>
#include <memory>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/audit.hpp"
#include "actors/features.hpp"
#include "apps/scopehub/config.hpp"
#include "apps/scopehub/server.hpp"
#include "caf/actor_system.hpp"
#include "caf/io/middleman.hpp"

namespace {

bool setup_logging(const scopehub::app::config& cfg) {
  auto level = spdlog::level::from_str(cfg.log_level);
  if (level == spdlog::level::off && cfg.log_level != "off") {
    std::fprintf(stderr, "log.level: unknown level \"%s\"\n",
                 cfg.log_level.c_str());
    return false;
  }
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!cfg.log_file.empty())
    sinks.push_back(
      std::make_shared<spdlog::sinks::basic_file_sink_mt>(cfg.log_file));
  auto logger
    = std::make_shared<spdlog::logger>("scopehub", sinks.begin(), sinks.end());
  logger->set_level(level);
  spdlog::set_default_logger(logger);
  scopehub::features::init(
    {cfg.feature_compression, cfg.feature_delta_updates, cfg.feature_debug_logs,
     cfg.feature_performance_metrics, cfg.feature_sse_fallback},
    level);
  if (auto err = scopehub::audit::open(cfg.audit_file); !err.empty()) {
    spdlog::critical("audit.file: cannot open {}: {}", cfg.audit_file, err);
    return false;
  }
  spdlog::info("audit trail: {}", cfg.audit_file.empty()
                                    ? std::string{"off (audit.file)"}
                                    : cfg.audit_file);
  return true;
}

} // namespace

int main(int argc, char** argv) {
  scopehub::app::config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    std::fprintf(stderr, "scopehub: %s\n", to_string(err).c_str());
    return 2;
  }
  if (cfg.cli_helptext_printed) return 0;
  if (auto problem = cfg.validate(); !problem.empty()) {
    std::fprintf(stderr, "scopehub: %s\n", problem.c_str());
    return 2;
  }
  if (!setup_logging(cfg)) return 2;
  // CAF's middleman (BASP node links, with a multiplexer thread of its own
  // and a heartbeat tick every second) serves the farm roles only. Without
  // a farm it would only idle, and its broker is what LeakSanitizer once
  // found unreleased at a standalone server's exit (integration.soak).
  if (cfg.farm_role != "standalone") cfg.load<caf::io::middleman>();
  int rc = 0;
  {
    caf::actor_system sys{cfg};
    rc = scopehub::app::run_server(sys, cfg);
  }
  scopehub::audit::close();
  return rc;
}

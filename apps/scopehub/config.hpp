#pragma once

// The server's configuration, on CAF's config system: every option has a
// default (the embedded default is a complete server: 127.0.0.1:8000 and
// three simulated Seestars), can be set in an INI file
// (--config-file=config/scopehub.conf) and overridden on the command
// line (--server.heartbeat-interval=10s). --long-help lists them all,
// --dump-config prints the effective values.

#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor_system_config.hpp"
#include "caf/timespan.hpp"

namespace scopehub::app {

struct config : caf::actor_system_config {
  // [global]
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  bool insecure = false;   // open mode on a non-loopback host
  bool hash_token = false; // print SHA-256 of stdin and exit

  // [auth]
  std::vector<std::string> tokens;  // "<sha256hex>:<role>[:<label>[:<ids>]]"
  std::vector<std::string> origins; // allowed Origin of cookie clients
  caf::timespan session_ttl = std::chrono::hours{12};

  // [limits]
  double message_rate = 50.0;
  size_t message_burst = 100;
  size_t rate_abuse_limit = 50;
  size_t max_subscriptions = 256;
  size_t max_pending_commands = 64;
  size_t max_connections = 10000;
  size_t max_connections_per_address = 64;
  std::vector<std::string> per_address_exempt{"127.0.0.1", "::1"};
  double connect_rate = 20.0;
  double connect_burst = 40.0;

  // [server]
  size_t io_threads = 2;
  caf::timespan handshake_timeout = std::chrono::seconds{15};
  size_t max_message_size = 64 * 1024;
  size_t write_queue_limit = 4 * 1024 * 1024;
  size_t backlog_soft_limit = 256 * 1024;
  size_t inbound_window = 32;
  size_t send_buffer = 0;
  caf::timespan heartbeat_interval = std::chrono::seconds{30};
  caf::timespan stale_after = std::chrono::seconds{75};
  caf::timespan tick = std::chrono::seconds{1};
  caf::timespan message_timeout = std::chrono::seconds{10};
  caf::timespan long_operation_timeout = std::chrono::seconds{180};
  caf::timespan dedup_window = std::chrono::minutes{10};
  caf::timespan shutdown_grace = std::chrono::seconds{2};
  size_t history = 256;
  std::string open_role = "operator";
  std::vector<std::string> cors_origins; // pages that may call /api/*
  caf::timespan sse_retry = std::chrono::seconds{2};
  int deflate_window_bits = 10;
  int deflate_mem_level = 2;

  // [features] (actors/features.hpp): defaults of the runtime flags
  bool feature_compression = false;
  bool feature_delta_updates = true;
  bool feature_debug_logs = false;
  bool feature_performance_metrics = true;
  bool feature_sse_fallback = true;

  // [telescopes]
  std::vector<std::string> connect;  // "id=host:port"
  std::vector<std::string> discover; // "ip[:udp-port]", unicast probes
  caf::timespan discover_interval = std::chrono::seconds{30};
  caf::timespan poll_interval = std::chrono::seconds{3};
  caf::timespan stall_timeout = std::chrono::seconds{15};
  caf::timespan connect_timeout = std::chrono::seconds{5};
  caf::timespan backoff_base = std::chrono::seconds{1};
  caf::timespan backoff_cap = std::chrono::seconds{30};
  size_t max_calls_in_flight = 16;

  // [sim]
  size_t sim_count = 3;
  std::string sim_id_prefix = "seestar-"; // ids: prefix + 001, 002, ...
  double sim_time_scale = 1.0;
  std::string sim_faults;
  double sim_battery_drain = 0.2;

  // [farm] (actors/farm.hpp, README "Farm")
  std::string farm_role = "standalone"; // standalone | edge | gateway
  std::string farm_node;                // this node's name (edge: required)
  std::string farm_host = "127.0.0.1";  // edge: node link address
  uint16_t farm_port = 4800;            // edge: node link port, 0: any
  std::vector<std::string> farm_edges;  // gateway: "host:port" of each edge
  std::string farm_secret;              // shared by every node of the farm
  std::string farm_secret_file;         // or read from this file
  caf::timespan farm_handshake_timeout = std::chrono::seconds{5};
  caf::timespan farm_backoff_base = std::chrono::milliseconds{500};
  caf::timespan farm_backoff_cap = std::chrono::seconds{10};

  // [log]
  std::string log_level = "info";
  std::string log_file;

  // [audit]
  std::string audit_file;

  // [tls]
  std::string tls_cert_file; // PEM chain; with tls_key_file: TLS only
  std::string tls_key_file;  // PEM key of that certificate
  std::string tls_min_version = "1.2";

  config();

  /// Checks values CAF cannot (ranges, relations, token syntax, open
  /// mode on a non-loopback host); empty when usable.
  std::string validate() const;

  /// True when `host` is a loopback address or "localhost".
  static bool is_loopback(const std::string& host);
};

} // namespace scopehub::app

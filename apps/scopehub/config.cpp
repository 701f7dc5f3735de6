#include "apps/scopehub/config.hpp"

#include "actors/auth.hpp"
#include "actors/messages.hpp"
#include "protocol/glob.hpp"

namespace scopehub::app {

config::config() {
  // The 2-core scheduler settings (stack-notes: 20-50x faster fan-out than
  // CAF's default of 4 spinning workers). Config files and flags override.
  set("scheduler.max-threads", 2);
  set("work-stealing.aggressive-poll-attempts", 1);
  // No moderate attempt: it sleeps 50 us before the condition variable,
  // and a job arriving meanwhile waits it out (bench/README.md).
  set("work-stealing.moderate-poll-attempts", 0);
  // Farm node links (CAF's BASP): a link silent for 4 s is dead, so a
  // lost edge is noticed even without a TCP reset. Standalone servers do
  // not load the middleman at all (apps/scopehub.cpp).
  set("middleman.heartbeat-interval", caf::timespan{std::chrono::seconds{1}});
  set("middleman.connection-timeout", caf::timespan{std::chrono::seconds{4}});
  opt_group{custom_options_, "global"}
    .add(host, "host", "address to listen on (loopback in open mode)")
    .add(port, "port,p", "port to listen on; 0 picks a free one")
    .add(insecure, "insecure",
         "allow open mode (no auth.tokens) on a non-loopback host; without "
         "it such a server refuses to start")
    .add(hash_token, "hash-token",
         "read a token from stdin, print its SHA-256 hex for auth.tokens, "
         "exit");
  opt_group{custom_options_, "auth"}
    .add(tokens, "tokens",
         "accepted tokens, one string each: \"<sha256hex>:<role>[:<label>"
         "[:<id-or-glob>,...]]\"; role observer|operator|admin; label "
         "[A-Za-z0-9._@-] names the client in logs and is its idempotency "
         "identity (default token-<8 hex>); the list limits the token to those "
         "telescope ids or globs (empty: all). Clients send Authorization: "
         "Bearer <token> or ?token=. No tokens: open mode, every client gets "
         "server.open-role")
    .add(origins, "origins",
         "Origin values (e.g. \"https://dome.example\") allowed to use "
         "POST /api/session and to upgrade with its session cookie; a "
         "cookie upgrade from any other Origin, or none, gets 403 (a POST "
         "without Origin, from a non-browser client, is allowed). Empty: "
         "cookie sessions are refused at the upgrade")
    .add(session_ttl, "session-ttl",
         "lifetime of a session cookie from POST /api/session");
  opt_group{custom_options_, "limits"}
    .add(message_rate, "message-rate",
         "client messages per second per session (token bucket refill); "
         "over budget a message is not executed and gets RATE_LIMITED")
    .add(message_burst, "message-burst",
         "token bucket size: messages a session may send at once")
    .add(rate_abuse_limit, "rate-abuse-limit",
         "this many RATE_LIMITED messages in a row close the session 1008")
    .add(max_subscriptions, "max-subscriptions",
         "subscription entries (ids, patterns, all) per session; more get "
         "OVERLOADED")
    .add(max_pending_commands, "max-pending-commands",
         "unanswered commands per session; more get OVERLOADED")
    .add(max_connections, "max-connections",
         "WebSocket sessions open at once, all clients; over it the upgrade "
         "is answered 503")
    .add(max_connections_per_address, "max-connections-per-address",
         "WebSocket sessions open at once from one client IP; over it the "
         "upgrade is answered 503")
    .add(per_address_exempt, "per-address-exempt",
         "client IPs the per-address cap does not apply to (the global one "
         "does); default loopback, for local tools and benchmarks; [] "
         "exempts none")
    .add(connect_rate, "connect-rate",
         "TCP connection attempts per second one client IP may make on "
         "average (token bucket, checked at accept; per-address-exempt "
         "applies); 0 turns it off")
    .add(connect_burst, "connect-burst",
         "connection attempts one client IP may make at once");
  opt_group{custom_options_, "server"}
    .add(io_threads, "io-threads", "Asio threads for all sockets")
    .add(handshake_timeout, "handshake-timeout",
         "time a client has to send its whole HTTP request (upgrade "
         "included); a silent or dribbling client is dropped after it")
    .add(max_message_size, "max-message-size",
         "largest client frame in bytes; bigger ones close with 1009")
    .add(write_queue_limit, "write-queue-limit",
         "outbound bytes queued per client before it is closed with 4002")
    .add(backlog_soft_limit, "backlog-soft-limit",
         "outbound bytes queued per client past which its status deltas are "
         "conflated per topic (latest value per field); 0 never conflates")
    .add(send_buffer, "send-buffer",
         "SO_SNDBUF of client sockets in bytes; 0 keeps the kernel's "
         "autotuning (which can hold megabytes for a slow client)")
    .add(inbound_window, "inbound-window",
         "client messages read but not yet handled by the session before "
         "the server stops reading that client (TCP pushes back)")
    .add(heartbeat_interval, "heartbeat-interval",
         "period of server heartbeats to every session")
    .add(stale_after, "stale-after",
         "close a session silent this long with 4001")
    .add(tick, "tick", "resolution of heartbeats and stale checks")
    .add(message_timeout, "message-timeout",
         "default timeout of short commands")
    .add(long_operation_timeout, "long-operation-timeout",
         "default timeout of goto, park, move, focus, start_imaging")
    .add(dedup_window, "dedup-window",
         "how long a command id is remembered for idempotency")
    .add(shutdown_grace, "shutdown-grace",
         "time clients get to close on SIGINT/SIGTERM")
    .add(history, "history", "status deltas each topic keeps for resume")
    .add(open_role, "open-role",
         "role of every client when no tokens are configured")
    .add(cors_origins, "cors-origins",
         "Origin values (e.g. \"https://ops.example\") whose pages may call "
         "the REST and event-stream paths (/api/telescopes..., /api/sessions, "
         "/api/features) from a browser (CORS); others get no CORS headers "
         "and a refused preflight")
    .add(sse_retry, "sse-retry",
         "reconnect delay an event stream announces to EventSource clients")
    .add(deflate_window_bits, "deflate-window-bits",
         "permessage-deflate server window bits (9..15) when the "
         "compression feature is on; smaller costs less memory")
    .add(deflate_mem_level, "deflate-mem-level",
         "zlib memLevel (1..9) of permessage-deflate; smaller costs less "
         "memory");
  opt_group{custom_options_, "features"}
    .add(feature_compression, "compression",
         "offer permessage-deflate to new connections (about 60-130 KB "
         "more per connection)")
    .add(feature_delta_updates, "delta-updates",
         "status updates carry only changed fields; off: every update is a "
         "full snapshot of its category (new sessions)")
    .add(feature_debug_logs, "debug-logs",
         "log at debug level (at least) while on")
    .add(feature_performance_metrics, "performance-metrics",
         "record the command duration and fan-out delivery histograms of "
         "/metrics (two clock reads per update and subscriber)")
    .add(feature_sse_fallback, "sse-fallback",
         "serve GET /api/telescopes/{id}/events (Server-Sent Events)");
  opt_group{custom_options_, "telescopes"}
    .add(connect, "connect", "external telescopes as \"id=host:port\"")
    .add(discover, "discover",
         "addresses probed with UDP scan_iscope (\"ip\" or \"ip:port\")")
    .add(discover_interval, "discover-interval",
         "time between discovery probe rounds")
    .add(poll_interval, "poll-interval",
         "device heartbeat and coordinate poll period")
    .add(stall_timeout, "stall-timeout",
         "a device silent this long is reconnected")
    .add(connect_timeout, "connect-timeout", "device TCP connect timeout")
    .add(backoff_base, "backoff-base", "first device reconnect delay")
    .add(backoff_cap, "backoff-cap", "longest device reconnect delay")
    .add(max_calls_in_flight, "max-calls-in-flight",
         "camera settings (set_gain, set_exposure, set_image_enhancement) "
         "awaiting device replies at once per telescope; 1 = one call at a "
         "time");
  opt_group{custom_options_, "sim"}
    .add(sim_count, "count", "simulated Seestars started in-process")
    .add(sim_id_prefix, "id-prefix",
         "their telescope ids: prefix + 001, 002, ... (distinct per edge in "
         "a farm)")
    .add(sim_time_scale, "time-scale", "simulator speed-up (10 = 10x)")
    .add(sim_faults, "faults", "fault plan of every simulator (sim/README)")
    .add(sim_battery_drain, "battery-drain", "battery % lost per minute");
  opt_group{custom_options_, "farm"}
    .add(farm_role, "role",
         "standalone (one node), edge (owns telescopes, publishes them on "
         "farm.host:farm.port) or gateway (serves clients, links to "
         "farm.edges)")
    .add(farm_node, "node",
         "this node's name: the `node` of an edge's telescopes (required "
         "for an edge), the gateway's name in the edges' logs")
    .add(farm_host, "host", "edge: address of the node link (loopback)")
    .add(farm_port, "port", "edge: port of the node link; 0 picks one")
    .add(farm_edges, "edges", "gateway: the edges, as \"host:port\" each")
    .add(farm_secret, "secret",
         "shared secret of the farm's node links (every node the same); "
         "required for edge and gateway")
    .add(farm_secret_file, "secret-file",
         "read farm.secret from this file instead (first line)")
    .add(farm_handshake_timeout, "handshake-timeout",
         "gateway: longest wait for an edge's connect and handshake")
    .add(farm_backoff_base, "backoff-base",
         "gateway: first delay before linking to a lost edge again")
    .add(farm_backoff_cap, "backoff-cap",
         "gateway: longest delay between link attempts");
  opt_group{custom_options_, "log"}
    .add(log_level, "level", "trace, debug, info, warn, error or off")
    .add(log_file, "file", "also log to this file");
  opt_group{custom_options_, "audit"}.add(
    audit_file, "file",
    "append the audit trail (JSON lines: commands, auth failures, forced "
    "lease take-overs) to this file; empty: no audit trail");
  opt_group{custom_options_, "tls"}
    .add(tls_cert_file, "cert-file",
         "PEM certificate chain (server certificate first); with "
         "tls.key-file the port speaks TLS only (https://, wss://) and "
         "refuses plain text; both empty: plain TCP")
    .add(tls_key_file, "key-file",
         "PEM private key (unencrypted) of tls.cert-file")
    .add(tls_min_version, "min-version",
         "oldest TLS version accepted: \"1.2\" or \"1.3\"");
  scopehub::add_message_types(*this);
}

std::string config::validate() const {
  using std::chrono::milliseconds;
  if (handshake_timeout < std::chrono::milliseconds{100}
      || handshake_timeout > std::chrono::minutes{5})
    return "server.handshake-timeout must be in [100ms, 5min]";
  if (io_threads < 1 || io_threads > 64)
    return "server.io-threads must be in [1, 64]";
  if (max_message_size < 1024)
    return "server.max-message-size must be at least 1024";
  if (write_queue_limit < max_message_size)
    return "server.write-queue-limit must be >= server.max-message-size";
  if (backlog_soft_limit >= write_queue_limit)
    return "server.backlog-soft-limit must be below server.write-queue-limit";
  if (inbound_window < 1 || inbound_window > 65536)
    return "server.inbound-window must be in [1, 65536]";
  if (send_buffer != 0 && (send_buffer < 4096 || send_buffer > (64u << 20)))
    return "server.send-buffer must be 0 or in [4096, 64 MiB]";
  if (!(connect_rate >= 0) || connect_rate > 1e6)
    return "limits.connect-rate must be in [0, 1000000]";
  if (!(connect_burst >= 1) || connect_burst > 1e6)
    return "limits.connect-burst must be in [1, 1000000]";
  if (heartbeat_interval < milliseconds{100})
    return "server.heartbeat-interval must be at least 100ms";
  if (stale_after <= heartbeat_interval)
    return "server.stale-after must be longer than server.heartbeat-interval";
  if (tick < milliseconds{10} || tick > heartbeat_interval)
    return "server.tick must be in [10ms, heartbeat-interval]";
  if (history > 100000) return "server.history must be at most 100000";
  if (open_role != "observer" && open_role != "operator"
      && open_role != "admin")
    return "server.open-role must be observer, operator or admin";
  if (sim_count > 1000) return "sim.count must be at most 1000";
  if (!protocol::valid_telescope_id(sim_id_prefix + "001"))
    return "sim.id-prefix: \"" + sim_id_prefix
           + "001\" is not a valid telescope id";
  if (deflate_window_bits < 9 || deflate_window_bits > 15)
    return "server.deflate-window-bits must be in [9, 15]";
  if (deflate_mem_level < 1 || deflate_mem_level > 9)
    return "server.deflate-mem-level must be in [1, 9]";
  if (sse_retry < milliseconds{100} || sse_retry > std::chrono::minutes{10})
    return "server.sse-retry must be in [100ms, 10min]";
  std::string token_error;
  auto table = auth::token_table::parse(tokens, &token_error);
  if (!table) return token_error;
  if (table->empty() && !insecure && !is_loopback(host))
    return "refusing to start: global.host " + host
           + " is not loopback and no auth.tokens are configured (open "
             "mode); configure tokens or pass --insecure";
  if (session_ttl < std::chrono::seconds{10}
      || session_ttl > std::chrono::hours{24 * 30})
    return "auth.session-ttl must be in [10s, 30 days]";
  if (!(message_rate > 0) || message_rate > 1e6)
    return "limits.message-rate must be in (0, 1000000]";
  if (message_burst < 1 || message_burst > 1000000)
    return "limits.message-burst must be in [1, 1000000]";
  if (rate_abuse_limit < 1) return "limits.rate-abuse-limit must be >= 1";
  if (max_subscriptions < 1) return "limits.max-subscriptions must be >= 1";
  if (max_pending_commands < 1)
    return "limits.max-pending-commands must be >= 1";
  if (max_connections < 1) return "limits.max-connections must be >= 1";
  if (max_calls_in_flight < 1 || max_calls_in_flight > 256)
    return "telescopes.max-calls-in-flight must be in [1, 256]";
  if (max_connections_per_address < 1)
    return "limits.max-connections-per-address must be >= 1";
  if (sim_time_scale <= 0 || sim_time_scale > 1000)
    return "sim.time-scale must be in (0, 1000]";
  if (tls_cert_file.empty() != tls_key_file.empty())
    return "tls.cert-file and tls.key-file go together: set both (TLS) or "
           "neither (plain TCP)";
  if (tls_min_version != "1.2" && tls_min_version != "1.3")
    return "tls.min-version must be \"1.2\" or \"1.3\"";
  if (farm_role != "standalone" && farm_role != "edge"
      && farm_role != "gateway")
    return "farm.role must be standalone, edge or gateway";
  if (farm_role != "standalone") {
    if (farm_secret.empty() && farm_secret_file.empty())
      return "farm.secret (or farm.secret-file) is required for farm.role "
             + farm_role + ": node links are never open";
    if (!farm_secret.empty() && !farm_secret_file.empty())
      return "farm.secret and farm.secret-file: set one, not both";
  }
  if (farm_role == "edge" && farm_node.empty())
    return "farm.node is required for an edge (it names the node of its "
           "telescopes)";
  if (farm_role == "gateway" && farm_edges.empty())
    return "farm.edges: a gateway needs at least one edge (\"host:port\")";
  for (auto& e : farm_edges) {
    auto colon = e.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == e.size()
        || e.find_first_not_of("0123456789", colon + 1) != std::string::npos)
      return "farm.edges entries look like \"host:port\", got \"" + e + "\"";
  }
  if (farm_backoff_base < milliseconds{10}
      || farm_backoff_cap < farm_backoff_base)
    return "farm.backoff-base must be >= 10ms and <= farm.backoff-cap";
  if (farm_handshake_timeout < milliseconds{100})
    return "farm.handshake-timeout must be at least 100ms";
  for (auto& c : connect)
    if (c.find('=') == std::string::npos || c.rfind(':') == std::string::npos)
      return "telescopes.connect entries look like \"id=host:port\", got \"" + c
             + "\"";
  return {};
}

bool config::is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]"
         || host.rfind("127.", 0) == 0;
}

} // namespace scopehub::app

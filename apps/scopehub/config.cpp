#include "apps/scopehub/config.hpp"

#include "actors/messages.hpp"

namespace scopehub::app {

config::config() {
  // The 2-core scheduler settings (stack-notes: 20-50x faster fan-out than
  // CAF's default of 4 spinning workers). Config files and flags override.
  set("scheduler.max-threads", 2);
  set("work-stealing.aggressive-poll-attempts", 1);
  set("work-stealing.moderate-poll-attempts", 1);
  opt_group{custom_options_, "global"}
    .add(host, "host", "address to listen on (loopback in open mode)")
    .add(port, "port,p", "port to listen on; 0 picks a free one");
  opt_group{custom_options_, "server"}
    .add(io_threads, "io-threads", "Asio threads for all sockets")
    .add(max_message_size, "max-message-size",
         "largest client frame in bytes; bigger ones close with 1009")
    .add(write_queue_limit, "write-queue-limit",
         "outbound bytes queued per client before it is closed with 4002")
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
         "role of every client when no tokens are configured");
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
    .add(backoff_cap, "backoff-cap", "longest device reconnect delay");
  opt_group{custom_options_, "sim"}
    .add(sim_count, "count", "simulated Seestars started in-process")
    .add(sim_time_scale, "time-scale", "simulator speed-up (10 = 10x)")
    .add(sim_faults, "faults", "fault plan of every simulator (sim/README)")
    .add(sim_battery_drain, "battery-drain", "battery % lost per minute");
  opt_group{custom_options_, "log"}
    .add(log_level, "level", "trace, debug, info, warn, error or off")
    .add(log_file, "file", "also log to this file");
  scopehub::add_message_types(*this);
}

std::string config::validate() const {
  using std::chrono::milliseconds;
  if (io_threads < 1 || io_threads > 64)
    return "server.io-threads must be in [1, 64]";
  if (max_message_size < 1024)
    return "server.max-message-size must be at least 1024";
  if (write_queue_limit < max_message_size)
    return "server.write-queue-limit must be >= server.max-message-size";
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
  if (sim_time_scale <= 0 || sim_time_scale > 1000)
    return "sim.time-scale must be in (0, 1000]";
  for (auto& c : connect)
    if (c.find('=') == std::string::npos || c.rfind(':') == std::string::npos)
      return "telescopes.connect entries look like \"id=host:port\", got \"" + c
             + "\"";
  return {};
}

} // namespace scopehub::app

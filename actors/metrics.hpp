#pragma once

// actors/metrics: the server's counters for `GET /metrics` (Prometheus
// text format). Metrics are the one state shared across threads here
// (design.md: "an atomic counter for a metric is fine"): sessions count
// into one process-wide registry with relaxed atomics, and a probe renders
// it together with the listener's net_counters and the directory's
// telescope counts. No lock, no allocation on the counting paths.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "protocol/actions.hpp"
#include "protocol/errors.hpp"

namespace scopehub::net {
struct net_counters;
} // namespace scopehub::net

namespace scopehub::metrics {

/// Client message kinds counted on the way in.
enum class message_in : uint8_t {
  control_command,
  subscribe,
  unsubscribe,
  heartbeat,
  invalid, ///< not JSON, failed validation, binary
  count_
};

/// Server message kinds counted on the way out (handed to the pipe).
enum class message_out : uint8_t {
  status_update,
  telescope_discovered,
  telescope_lost,
  command_response,
  command_progress,
  heartbeat,
  error,
  count_
};

/// How a session's client is connected.
enum class transport : uint8_t {
  websocket,
  sse,  ///< Server-Sent Events (GET .../events)
  http, ///< one REST command (POST .../commands)
  count_
};

/// "websocket", "sse" or "http".
const char* to_string(transport t) noexcept;

/// Close codes counted by name; everything else is "other".
inline constexpr std::array<uint16_t, 10> close_codes{
  1000, 1001, 1006, 1008, 1009, 1011, 1013, 4001, 4002, 0};

/// Upper bounds (seconds) of the command duration histogram's buckets;
/// +Inf is implicit.
inline constexpr std::array<double, 10> duration_buckets{
  0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 10, 60};

/// Upper bounds (seconds) of the fan-out delivery histogram (topic
/// publish to the session's hand-off to its pipe).
inline constexpr std::array<double, 10> fanout_buckets{
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1};

template<class T, class E>
using by = std::array<T, static_cast<size_t>(E::count_)>;

struct registry {
  by<std::atomic<uint64_t>, transport> sessions_total{};
  by<std::atomic<int64_t>, transport> sessions_open{};
  by<std::atomic<uint64_t>, message_out> messages_out{};
  std::array<std::atomic<uint64_t>, fanout_buckets.size() + 1> fanout_counts{};
  std::atomic<uint64_t> fanout_sum_ns{0};
  /// Device link connection attempts after the first (telescope actors).
  std::atomic<uint64_t> device_reconnects{0};
  /// Farm mode: node links up (a gateway's edges, an edge's gateways),
  /// and link losses seen by a gateway.
  std::atomic<int64_t> farm_links_up{0};
  std::atomic<uint64_t> farm_links_lost{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(message_in::count_)>
    messages_in{};
  /// Commands by action and outcome (0 = ok, 1 + error code).
  std::array<std::array<std::atomic<uint64_t>, 1 + protocol::error_code_count>,
             protocol::action_count>
    commands{};
  std::array<std::atomic<uint64_t>, duration_buckets.size() + 1>
    duration_counts{};
  std::atomic<uint64_t> duration_sum_us{0};
  std::array<std::atomic<uint64_t>, close_codes.size()> closes{};
  std::atomic<uint64_t> status_conflated{0};
  std::atomic<uint64_t> status_dropped{0};
  std::atomic<uint64_t> rate_limited{0};
  std::atomic<int64_t> backlog_bytes{0};
  std::atomic<int64_t> backlog_max_bytes{0};
};

/// The process-wide registry.
registry& global() noexcept;

void count_message(message_in kind) noexcept;

void count_out(message_out kind) noexcept;

/// A session opened (+1) or ended (-1).
void count_session(transport t, int delta) noexcept;

/// One status frame's delay from its topic's publish to the hand-off.
void observe_fanout(int64_t ns) noexcept;

/// One command's outcome; `code` empty means success. Unknown actions
/// (not parsed) are not counted here.
void count_command(protocol::action a, const protocol::error_code* code,
                   int64_t duration_ms) noexcept;

void count_close(uint16_t code) noexcept;

/// A session's backlog changed by `delta` bytes (may be negative); the
/// sum over sessions is a gauge, `session_max` the largest one seen.
void add_backlog(int64_t delta, int64_t session_max) noexcept;

/// Telescopes as the directory counts them.
struct telescope_counts {
  uint64_t total = 0;
  uint64_t online = 0;
};

/// Prometheus text exposition (format 0.0.4) of `r`, `net` (may be null)
/// and `scopes`.
std::string render(const registry& r, const net::net_counters* net,
                   const telescope_counts& scopes);

} // namespace scopehub::metrics

#pragma once

// net/net_counters: the listener's and pipes' metrics, one atomic per
// reason (style point 17). Shared by the listener, its HTTP sessions and
// its pipes through a shared_ptr, so a pipe that outlives the listener
// still counts; the app reads them for health, admission and /metrics.

#include <atomic>
#include <cstdint>
#include <memory>

namespace scopehub::net {

/// Counters of one listener. Every field may be read from any thread.
struct net_counters {
  /// TCP connections open right now (HTTP and WebSocket).
  std::atomic<uint64_t> connections_open{0};
  /// WebSockets open right now (a subset of connections_open).
  std::atomic<uint64_t> websockets_open{0};
  /// Connections accepted since start.
  std::atomic<uint64_t> accepted{0};
  /// Failed accepts (EMFILE and friends); the listener keeps accepting.
  std::atomic<uint64_t> accept_errors{0};
  /// Failed or timed-out TLS handshakes (plain text on a TLS port, an
  /// old protocol version, a client that never spoke); TLS ports only.
  std::atomic<uint64_t> tls_failures{0};
  /// Plain HTTP requests answered (any status).
  std::atomic<uint64_t> http_requests{0};
  /// Completed WebSocket handshakes.
  std::atomic<uint64_t> upgrades{0};
  /// WebSockets refused by the app's hook (closed with 1013).
  std::atomic<uint64_t> refused{0};
  /// WebSockets closed because their write queue passed its limit (4002).
  std::atomic<uint64_t> closed_slow_consumer{0};
  /// WebSockets closed because a message passed max_message_size (1009).
  std::atomic<uint64_t> closed_too_big{0};
  /// WebSockets whose close handshake did not finish in time.
  std::atomic<uint64_t> close_timeouts{0};
  /// Connections closed at accept: their address was over its
  /// connection-attempt rate.
  std::atomic<uint64_t> refused_connect_rate{0};
  /// Times a read loop paused because its session fell behind.
  std::atomic<uint64_t> reads_paused{0};
  /// Text and binary frames received / written.
  std::atomic<uint64_t> frames_in{0};
  std::atomic<uint64_t> frames_out{0};
  /// Payload bytes of those frames (WebSocket), and of the events written
  /// on event streams (SSE).
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  /// Server-Sent Event streams open right now, and started since start.
  std::atomic<uint64_t> sse_open{0};
  std::atomic<uint64_t> sse_streams{0};
};

/// Holds one place in `connections_open` for as long as a connection
/// lives; moves from the HTTP session to the pipe on upgrade.
class connection_slot {
 public:
  connection_slot() = default;

  explicit connection_slot(std::shared_ptr<net_counters> c)
    : counters_(std::move(c)) {
    if (counters_) ++counters_->connections_open;
  }

  connection_slot(connection_slot&&) noexcept = default;
  connection_slot& operator=(connection_slot&& other) noexcept {
    release();
    counters_ = std::move(other.counters_);
    return *this;
  }
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;

  ~connection_slot() { release(); }

  /// The counters this slot belongs to (null for an empty slot).
  net_counters* counters() const noexcept { return counters_.get(); }

 private:
  void release() noexcept {
    if (counters_) --counters_->connections_open;
    counters_.reset();
  }

  std::shared_ptr<net_counters> counters_;
};

} // namespace scopehub::net

#pragma once

// net/connect_limiter: connection attempts per client address, a token
// bucket each (issue 6). The listener asks it on every accept, before any
// byte is read; a refused connection is closed at once. Only the accept
// handler uses it (one at a time), so it needs no lock.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace scopehub::net {

struct connect_limits {
  /// Connection attempts per second one address may make on average;
  /// 0 turns the limit off.
  double rate = 20.0;
  /// Attempts one address may make at once.
  double burst = 40.0;
  /// Addresses without a limit (the per-address exemption list).
  std::vector<std::string> exempt;
  /// Addresses tracked at most; idle ones are forgotten first.
  size_t max_tracked = 65536;
};

class connect_limiter {
 public:
  using clock = std::chrono::steady_clock;

  explicit connect_limiter(connect_limits limits);

  /// True when `address` (an IP, no port) may connect now; takes a token.
  bool admit(const std::string& address, clock::time_point now);

  /// Attempts refused so far.
  uint64_t refused() const noexcept { return refused_; }

  /// Addresses tracked right now.
  size_t tracked() const noexcept { return buckets_.size(); }

 private:
  struct bucket {
    double tokens;
    clock::time_point refill;
  };

  /// Forgets addresses whose bucket has refilled (they lose nothing).
  void prune(clock::time_point now);

  connect_limits limits_;
  std::unordered_map<std::string, bucket> buckets_;
  uint64_t refused_ = 0;
};

} // namespace scopehub::net

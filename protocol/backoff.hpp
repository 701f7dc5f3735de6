#pragma once

// Reconnect delays: exponential backoff with jitter, shared by the device
// links (actors/) and the client library (net/ws_client). Pure: no I/O.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace scopehub {

/// How a backoff step is randomized.
enum class backoff_jitter : uint8_t {
  /// Uniform in [e/2, e]: spread out, but the delay still grows.
  equal,
  /// Uniform in [0, e] ("full jitter"): the widest spread, for many
  /// clients that lost the same server at once.
  full,
};

/// Delay before reconnect attempt `attempt` (0-based): the exponential
/// step e = min(cap, base * 2^attempt), jittered uniformly into [e/2, e]
/// (equal jitter) or [0, e] (full jitter) so a fleet that lost its links
/// together does not reconnect in lockstep.
inline std::chrono::milliseconds
backoff_delay(unsigned attempt, std::chrono::milliseconds base,
              std::chrono::milliseconds cap, std::minstd_rand& rng,
              backoff_jitter mode = backoff_jitter::equal) {
  int64_t step = base.count();
  for (unsigned i = 0; i < attempt && step < cap.count(); ++i)
    step *= 2;
  step = std::min<int64_t>(step, cap.count());
  if (mode == backoff_jitter::full) {
    std::uniform_int_distribution<int64_t> jitter{0, step};
    return std::chrono::milliseconds{jitter(rng)};
  }
  std::uniform_int_distribution<int64_t> jitter{0, step / 2};
  return std::chrono::milliseconds{step - step / 2 + jitter(rng)};
}

} // namespace scopehub

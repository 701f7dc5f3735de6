#pragma once

// Reconnect delays: exponential backoff with jitter, shared by the device
// links and (later) the client library.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>

namespace scopehub {

/// Delay before reconnect attempt `attempt` (0-based): the exponential
/// step e = min(cap, base * 2^attempt), jittered uniformly into [e/2, e]
/// so a fleet that lost its links together does not reconnect in lockstep,
/// while the delay still grows.
inline std::chrono::milliseconds backoff_delay(unsigned attempt,
                                               std::chrono::milliseconds base,
                                               std::chrono::milliseconds cap,
                                               std::minstd_rand& rng) {
  int64_t step = base.count();
  for (unsigned i = 0; i < attempt && step < cap.count(); ++i)
    step *= 2;
  step = std::min<int64_t>(step, cap.count());
  std::uniform_int_distribution<int64_t> jitter{0, step / 2};
  return std::chrono::milliseconds{step - step / 2 + jitter(rng)};
}

} // namespace scopehub

#include "net/connect_limiter.hpp"

#include <algorithm>
#include <utility>

namespace scopehub::net {

connect_limiter::connect_limiter(connect_limits limits)
  : limits_(std::move(limits)) {
  // nop
}

bool connect_limiter::admit(const std::string& address, clock::time_point now) {
  if (limits_.rate <= 0) return true;
  const auto& ex = limits_.exempt;
  if (std::find(ex.begin(), ex.end(), address) != ex.end()) return true;
  auto i = buckets_.find(address);
  if (i == buckets_.end()) {
    if (buckets_.size() >= limits_.max_tracked) prune(now);
    i = buckets_.emplace(address, bucket{limits_.burst, now}).first;
  }
  auto& b = i->second;
  std::chrono::duration<double> elapsed = now - b.refill;
  b.tokens = std::min(limits_.burst, b.tokens + elapsed.count() * limits_.rate);
  b.refill = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  ++refused_;
  return false;
}

void connect_limiter::prune(clock::time_point now) {
  // A bucket that would be full by now holds no information.
  const auto full_after = std::chrono::duration<double>(
    limits_.burst / std::max(limits_.rate, 1e-9));
  for (auto i = buckets_.begin(); i != buckets_.end();) {
    std::chrono::duration<double> idle = now - i->second.refill;
    if (idle >= full_after)
      i = buckets_.erase(i);
    else
      ++i;
  }
  // Still full of busy addresses (a spread-out flood): start over rather
  // than grow without bound. Every address gets a fresh burst.
  if (buckets_.size() >= limits_.max_tracked) buckets_.clear();
}

} // namespace scopehub::net

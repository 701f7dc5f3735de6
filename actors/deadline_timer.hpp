#pragma once

// actors/deadline_timer: one actor timer for many deadlines. An actor that
// keeps a deadline per item (a command waiting for its answer) arms the
// timer for the earliest one instead of one delayed message per item: each
// clock entry costs a lock and a wake-up of CAF's clock thread, and items
// with the same timeout arrive in deadline order, so a steady stream needs
// about one entry per timeout period. When the timer fires, the actor
// sweeps its items, answers the expired ones and arms the timer again for
// the earliest left (take_due does the sweep and the re-arming).
//
// The timer sends (deadline_atom, generation) to its actor; only the
// latest generation counts (an earlier deadline re-arms, and the timer it
// replaces is ignored when it fires). Not an actor: a member of the
// actor's state, used on its thread.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "actors/messages.hpp"
#include "caf/actor_clock.hpp"

namespace scopehub {

class deadline_timer {
 public:
  using time_point = caf::actor_clock::time_point;

  /// Makes sure the timer fires no later than `at`.
  template<class Self>
  void arm(Self* self, time_point at) {
    if (armed_ && at_ <= at) return; // fires in time already
    armed_ = true;
    at_ = at;
    auto wait
      = std::max(at - self->clock().now(), time_point::duration::zero());
    self->delayed_send(self, wait, deadline_atom_v, ++generation_);
  }

  /// The timer `generation` fired: returns the keys of `items` (a map)
  /// whose deadline (`deadline_of(item)`) has passed, earliest first, and
  /// arms the timer for the earliest deadline left. Nothing for a timer
  /// that an earlier deadline replaced.
  template<class Self, class Map, class DeadlineOf>
  std::vector<typename Map::key_type> take_due(Self* self, uint64_t generation,
                                               const Map& items,
                                               DeadlineOf deadline_of) {
    std::vector<typename Map::key_type> keys;
    if (!armed_ || generation != generation_) return keys;
    armed_ = false;
    auto now = self->clock().now();
    std::vector<std::pair<time_point, typename Map::key_type>> due;
    std::optional<time_point> next;
    for (auto& [key, item] : items) {
      auto at = deadline_of(item);
      if (at <= now)
        due.emplace_back(at, key);
      else if (!next || at < *next)
        next = at;
    }
    if (next) arm(self, *next);
    std::sort(due.begin(), due.end());
    for (auto& entry : due)
      keys.push_back(entry.second);
    return keys;
  }

 private:
  bool armed_ = false;
  time_point at_;
  uint64_t generation_ = 0;
};

} // namespace scopehub

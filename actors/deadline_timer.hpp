#pragma once

// actors/deadline_timer: one actor timer for many deadlines. An actor that
// keeps a deadline per item (a command waiting for its answer) arms the
// timer for the earliest one instead of one delayed message per item: each
// clock entry costs a lock and a wake-up of CAF's clock thread, and items
// with the same timeout arrive in deadline order, so a steady stream needs
// about one entry per timeout period. When the timer fires, the actor
// sweeps its items, answers the expired ones and arms the timer again for
// the earliest left.
//
// The timer sends (deadline_atom, generation) to its actor; only the
// latest generation counts (an earlier deadline re-arms, and the timer it
// replaces is ignored when it fires). Not an actor: a member of the
// actor's state, used on its thread.

#include <algorithm>
#include <cstdint>

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

  /// True when `generation` is the armed timer, which is then disarmed;
  /// false for a timer that an earlier deadline replaced.
  bool fired(uint64_t generation) {
    if (!armed_ || generation != generation_) return false;
    armed_ = false;
    return true;
  }

 private:
  bool armed_ = false;
  time_point at_;
  uint64_t generation_ = 0;
};

} // namespace scopehub

#pragma once

// actors/heartbeat_supervisor: the server's clock and its OTP-style
// supervisor. It ticks every session (each decides whether a heartbeat is
// due and whether its client went stale), broadcasts server-wide closes,
// and restarts crashed telescope actors with backoff.
//
// Messages (actors/messages.hpp):
//   (caf::join_atom, actor session)          a session wants ticks
//   (supervise_atom, std::string id, actor)  watch a telescope actor
//   (caf::close_atom, uint16_t code, std::string reason)  close all sessions
//   (caf::get_atom) -> (uint64_t sessions, uint64_t restarts)
// It sends (heartbeat_atom) to every session each tick.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"

namespace scopehub {

/// Respawns telescope `id` (and registers it with the directory); returns
/// the new actor.
using telescope_restarter = std::function<caf::actor(const std::string& id)>;

struct supervisor_config {
  /// How often sessions are ticked: the resolution of heartbeats and of
  /// stale detection.
  std::chrono::milliseconds tick{1000};
  std::chrono::milliseconds restart_base{500};
  std::chrono::milliseconds restart_cap{30000};
  /// A telescope that ran this long before crashing restarts at once.
  std::chrono::milliseconds restart_reset{60000};
  uint64_t seed = 0;
};

struct supervisor_state {
  static inline const char* name = "heartbeat_supervisor";

  supervisor_config cfg;
  telescope_restarter restart;
  std::vector<caf::actor> sessions;
  struct watched {
    caf::actor telescope;
    unsigned failures = 0;
    caf::actor_clock::time_point started;
  };
  std::map<std::string, watched> telescopes;
  uint64_t restarts = 0;
  std::minstd_rand rng;
};

/// Spawn with `sys.spawn(heartbeat_supervisor, cfg, restarter)`.
caf::behavior heartbeat_supervisor(caf::stateful_actor<supervisor_state>* self,
                                   supervisor_config cfg,
                                   telescope_restarter restart);

} // namespace scopehub

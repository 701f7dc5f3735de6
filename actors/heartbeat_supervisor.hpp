#pragma once

// actors/heartbeat_supervisor: the server's clock and its OTP-style
// supervisor. It ticks every session (each decides whether a heartbeat is
// due and whether its client went stale), broadcasts server-wide closes,
// and owns the lifecycle of every telescope: it creates them (from the
// config, the embedded simulators or discovery), restarts crashed ones
// with backoff, and stops everything at shutdown. Being the only owner of
// that table, it needs no lock when discovery adds telescopes at run time.
//
// Messages (actors/messages.hpp):
//   (caf::join_atom, actor session)          a session wants ticks
//   (supervise_atom, telescope_spec)         create and watch a telescope
//   (caf::close_atom, uint16_t code, std::string reason)  close all sessions
//   (caf::get_atom) -> (uint64_t sessions, uint64_t restarts)
//   (stats_atom) -> (std::vector<caf::actor> sessions,
//                    std::vector<std::string> recent closes, JSON objects)
//   (stats_atom, std::string close_json)  a session ended (kept: the last
//                                         `recent_closes`)
//   (list_atom) -> std::vector<std::string>  ids of supervised telescopes
//   (caf::delete_atom) -> std::vector<actor> stop telescopes, topics and
//                                            sessions; quit; returns the
//                                            telescopes and topics stopped
// It sends (heartbeat_atom) to every session each tick.

#include <chrono>
#include <cstdint>
#include <deque>
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

/// Spawns the telescope actor of `spec` using `topics` (creating the four
/// topics when `topics` is empty) and registers it with the directory.
/// Called only from the supervisor.
using telescope_spawner = std::function<telescope_entry(
  const telescope_spec& spec, std::vector<caf::actor> topics)>;

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
  telescope_spawner spawn;
  std::vector<caf::actor> sessions;
  /// How sessions ended, newest last (JSON objects), at most 32.
  std::deque<std::string> recent_closes;
  struct watched {
    telescope_spec spec;
    caf::actor telescope;
    std::vector<caf::actor> topics;
    unsigned failures = 0;
    caf::actor_clock::time_point started;
  };
  std::map<std::string, watched> telescopes;
  uint64_t restarts = 0;
  std::minstd_rand rng;
};

/// Spawn with `sys.spawn(heartbeat_supervisor, cfg, spawner)`.
caf::behavior heartbeat_supervisor(caf::stateful_actor<supervisor_state>* self,
                                   supervisor_config cfg,
                                   telescope_spawner spawn);

} // namespace scopehub

#pragma once

// actors/telescope: one actor per telescope. It owns the device link (a
// Seestar over net/line_link), the command FIFO with deadlines, the
// JSON-RPC ids in flight, long-operation tracking from device events, the
// control lease, the idempotency ledger and reconnects with backoff. It
// turns device data into status deltas for its four topics and tells the
// directory when it goes online or offline.
//
// Messages it understands (actors/messages.hpp):
//   (command_atom, command_request) -> command_result   exactly once
//   (link_up_atom | link_line_atom | link_down_atom, ...) from its link
//   (caf::get_atom) -> telescope_info
// It sends:
//   (update_atom, fields_json, full) to topics[category]
//   (progress_atom, command_id, state, detail_json) to a command's issuer
//   (state_atom, telescope_info) to the directory

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/fwd.hpp"
#include "net/device_link.hpp"

namespace scopehub {

/// Settings of one telescope actor; every duration is configurable.
struct telescope_config {
  std::string id;
  std::string name;
  std::string model = "Seestar S50";
  std::string host = "127.0.0.1";
  uint16_t port = 4700;
  std::string node = "local";
  std::chrono::milliseconds connect_timeout{5000};
  /// Heartbeat (test_connection) and coordinate poll period.
  std::chrono::milliseconds poll_interval{3000};
  /// No line from the device for this long: the link is declared dead.
  std::chrono::milliseconds stall_timeout{10000};
  /// Longest time the initial state reads may take after connecting.
  std::chrono::milliseconds sync_timeout{10000};
  /// Default timeout of short commands (protocol: message_timeout).
  std::chrono::milliseconds message_timeout{10000};
  /// Default timeout of long operations (goto, park, move, focus, ...).
  std::chrono::milliseconds long_operation_timeout{180000};
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{30000};
  /// How long a finished command's outcome is kept for duplicate ids.
  std::chrono::milliseconds dedup_window{600000};
  /// Default ttl of a control lease.
  std::chrono::milliseconds lease_ttl{300000};
  /// Most commands queued or running at once; more get OVERLOADED.
  size_t max_pending = 256;
  /// Camera settings (seestar_driver::is_setting) that may wait for their
  /// device replies at once; every other command calls the device alone.
  /// 1 keeps one call in flight per telescope.
  size_t max_calls_in_flight = 16;
  /// Seed for the reconnect jitter (0: random).
  uint64_t seed = 0;
};

/// Spawn function: `sys.spawn(telescope_actor, cfg, links, directory,
/// topics)`. `topics` holds one actor per protocol::category (in
/// all_categories order) or is empty; `directory` may be invalid.
struct telescope_state;

caf::behavior telescope_actor(caf::stateful_actor<telescope_state>* self,
                              telescope_config cfg, net::link_factory links,
                              caf::actor directory,
                              std::vector<caf::actor> topics);

/// Spawns a telescope actor (the state type stays private to actors/).
caf::actor spawn_telescope(caf::actor_system& sys, telescope_config cfg,
                           net::link_factory links, caf::actor directory,
                           std::vector<caf::actor> topics);

} // namespace scopehub

#pragma once

// actors/admission: the connection caps of issue 6 (style point 15),
// counted in one actor so no application state needs a mutex. The app
// asks before it accepts an upgrade; an admitted connection holds a
// ticket whose destruction (the session actor's state going away, or an
// upgrade that failed after admission) gives the place back.
//
//   (caf::put_atom, address) -> uint8_t   admit: see admission_verdict
//   (caf::delete_atom, address)           release one place of `address`
//   (caf::get_atom) -> (uint64_t open, uint64_t refused)

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"

namespace scopehub {

struct admission_limits {
  /// WebSocket sessions open at once, all clients together.
  size_t max_connections = 10000;
  /// WebSocket sessions open at once from one client address.
  size_t max_per_address = 64;
  /// Addresses the per-address cap does not apply to (the global cap
  /// does), e.g. loopback for local tools and benchmarks.
  std::vector<std::string> exempt;
};

/// The answer to (put_atom, address).
enum class admission_verdict : uint8_t {
  admitted = 0,
  server_full = 1,
  address_full = 2,
};

struct admission_state {
  static inline const char* name = "admission";
  admission_limits limits;
  size_t open = 0;
  std::unordered_map<std::string, size_t> per_address;
  uint64_t refused_server_full = 0;
  uint64_t refused_address_full = 0;
};

using admission_ptr = caf::stateful_actor<admission_state>*;

caf::behavior admission_actor(admission_ptr self, admission_limits limits);

/// "ip" of a peer given as "ip:port" or "[v6]:port".
std::string address_of(std::string_view peer);

/// A place held in the admission actor; its destructor releases it (by
/// message, from any thread).
std::shared_ptr<const void> make_admission_ticket(caf::actor admission,
                                                  std::string address);

} // namespace scopehub

#pragma once

// The directory actor: one per server. It maps telescope ids to their
// actors (telescope plus four topics) and info, tells every session when a
// telescope appears or goes away (`telescope_discovered` / `telescope_lost`,
// docs/protocol.md), and hands a joining session the whole fleet at once.
//
// Interface (atoms from actors/messages.hpp):
//   (register_atom, telescope_info, actor telescope, std::vector<actor> topics)
//   (state_atom, telescope_info)                      telescope -> directory
//   (caf::subscribe_atom, actor session)
//       -> (std::vector<telescope_entry>, std::vector<std::string> frames)
//   (caf::unsubscribe_atom, actor session)
//   (lookup_atom, std::string id) -> telescope_entry | directory_errc
//   (list_atom) -> std::vector<telescope_info>
//   (caf::get_atom) -> (uint64_t total, uint64_t online, uint64_t sessions)
// and it sends (fleet_atom, telescope_entry, std::string frame) to sessions.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/error.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/messages.hpp"

namespace scopehub {

/// Errors the directory answers with.
enum class directory_errc : uint8_t {
  /// No telescope with that id was ever registered.
  telescope_not_found = 1,
};

/// Text of a directory error, e.g. "telescope_not_found".
std::string to_string(directory_errc x);

/// Reason of the `telescope_lost` sent when a telescope actor terminates.
inline constexpr const char* telescope_down_reason = "telescope actor down";

/// Spawn arguments of the directory.
struct directory_config {
  /// Prefix of the ids of the frames the directory builds.
  std::string id_prefix = "d-";
};

/// State of the directory actor.
struct directory_state {
  directory_config cfg;
  /// Every telescope ever registered, by id; entries stay when it goes down.
  std::map<std::string, telescope_entry> telescopes;
  /// Sessions in the fleet, each monitored once.
  std::vector<caf::actor> sessions;
  /// Frames built so far; numbers the frame ids.
  uint64_t frames_built = 0;

  static inline const char* name = "directory";
};

/// Spawns with `sys.spawn(directory_actor, directory_config{})`.
caf::behavior directory_actor(caf::stateful_actor<directory_state>* self,
                              directory_config cfg);

} // namespace scopehub

CAF_ERROR_CODE_ENUM(scopehub::directory_errc, "directory")

#pragma once

// The farm role of the server (config [farm], actors/farm.hpp): an edge
// publishes its farm actor on the node link port; a gateway spawns one
// link per configured edge. Nothing for a standalone server.

#include <vector>

#include "apps/scopehub/config.hpp"
#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/fwd.hpp"

namespace scopehub::app {

/// The actors of the farm role.
struct farm_nodes {
  caf::actor edge;               ///< edge role: the published actor
  std::vector<caf::actor> links; ///< gateway role: one per edge
};

/// Starts the role `cfg.farm_role` next to `directory`; false (with the
/// reason logged) when it cannot (unreadable secret file, port in use).
bool start_farm(caf::actor_system& sys, const config& cfg,
                const caf::actor& directory, farm_nodes& out);

/// Ends the role's actors (before the directory).
void stop_farm(caf::scoped_actor& self, farm_nodes& nodes);

} // namespace scopehub::app

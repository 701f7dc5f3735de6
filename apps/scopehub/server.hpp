#pragma once

// The composition root of the scopehub server: starts the actors, the
// embedded simulators, the device links and the listener, and stops them
// in the order stack-notes §8.3 gives (listener, sessions with 1001, Asio,
// actors).

#include <memory>

#include "apps/scopehub/config.hpp"
#include "caf/actor_system.hpp"

namespace scopehub::app {

/// Runs the server until SIGINT/SIGTERM. Returns the process exit code.
int run_server(caf::actor_system& sys, const config& cfg);

} // namespace scopehub::app

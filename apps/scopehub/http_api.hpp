#pragma once

// The REST side of the HTTP fallback (protocol.md "HTTP fallback"), as
// thin adapters onto the same actors a WebSocket client talks to:
//
//   GET  /api/telescopes               directory list -> info objects
//   GET  /api/telescopes/{id}          directory lookup + one full snapshot
//                                      per category straight from the topics
//   POST /api/telescopes/{id}/commands a session actor of its own (transport
//                                      "http") whose pipe captures the one
//                                      command_response: the same parsing,
//                                      validation, roles, lease, limits and
//                                      idempotency as a WebSocket command
//   GET  /api/sessions                 (admin) every session's stats and
//                                      the recent closes, from the supervisor
//   GET/PUT /api/features              the runtime feature flags (PUT: admin)
//
// Each request is answered by a short-lived actor; none blocks Asio. The
// credentials were checked by the authorize hook (the grant in `who`).

#include <chrono>
#include <functional>

#include "actors/session.hpp"
#include "apps/scopehub/http_probes.hpp"
#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "net/http_hooks.hpp"
#include "protocol/errors.hpp"

namespace scopehub::app {

/// What the REST adapters need of the server.
struct api_context {
  caf::actor_system* sys = nullptr;
  caf::actor directory;
  caf::actor supervisor;
  /// The config of a session for `g` and `who` (as for a WebSocket).
  std::function<session_config(const grant& g, const net::upgrade_info& who)>
    session_config_for;
  /// Longest wait for a command's answer (a REST session's stale_after).
  std::chrono::milliseconds command_wait{std::chrono::seconds{330}};
  /// The message-rate budget of REST commands per identity (rest_gate).
  caf::actor gate;
};

/// The rate limit of REST commands: each command is a session of its own,
/// so the budget (`rate` per second, `burst` at once, as
/// limits.message-rate/-burst) is kept here per identity instead.
/// (rate_atom, identity) -> bool.
caf::behavior rest_gate(caf::event_based_actor* self, double rate,
                        size_t burst);

/// The HTTP status of a failure (protocol.md: 400, 401, 403, 404, 409,
/// 429, 503, 504; 500 for INTERNAL, 502 for DEVICE_ERROR).
unsigned http_status_of(protocol::error_code code) noexcept;

/// Answers one REST request (runs on an Asio thread, does not block).
void handle_api(const api_context& ctx, net::api_request req,
                net::http_reply reply);

} // namespace scopehub::app

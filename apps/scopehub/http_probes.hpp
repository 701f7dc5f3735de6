#pragma once

// One-shot actors behind the server's HTTP hooks, and what they share with
// the composition root (apps/scopehub/server.cpp).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actors/auth.hpp"
#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/event_based_actor.hpp"
#include "net/http_hooks.hpp"
#include "net/net_counters.hpp"

namespace scopehub::app {

/// What the authorize hook grants an upgrade (net::upgrade_info::grant).
struct grant {
  std::string identity; ///< "token:<label>", "client:<id>" or empty
  std::string role;
  std::vector<std::string> telescopes; ///< empty: all
  std::shared_ptr<const void> ticket;  ///< admission place
};

/// `{"error_code":..., "message":...}`; `message` needs no escaping.
std::string error_json(const char* code, const std::string& message);

/// Name of the browser session cookie (POST /api/session).
inline constexpr const char* cookie_name = "scopehub_session";

/// Resolves a session cookie (when `cookie` is set) in the web session
/// store, asks the admission actor for a place and answers the upgrade.
caf::behavior admit_probe(caf::event_based_actor* self, caf::actor admission,
                          std::string address, std::shared_ptr<grant> g,
                          net::authorize_reply reply, caf::actor store,
                          std::string cookie, std::string bound);

/// POST /api/session (`token` already checked): stores a web session and
/// answers with its cookie.
caf::behavior login_probe(caf::event_based_actor* self, caf::actor store,
                          auth::token_entry entry, int64_t ttl_ms,
                          net::http_reply reply);

/// DELETE /api/session: revokes the cookie's session.
caf::behavior logout_probe(caf::event_based_actor* self, caf::actor store,
                           std::string id, net::http_reply reply);

/// GET /api/ws/health from the directory's numbers.
caf::behavior health_probe(caf::event_based_actor* self, caf::actor directory,
                           net::health_reply reply,
                           std::shared_ptr<const net::net_counters> counters,
                           std::chrono::steady_clock::time_point started);

/// Answers GET /metrics: the Prometheus text of the metrics registry, the
/// listener's counters and the directory's telescope counts.
caf::behavior metrics_probe(caf::event_based_actor* self, caf::actor directory,
                            net::health_reply reply,
                            std::shared_ptr<const net::net_counters> counters);

} // namespace scopehub::app

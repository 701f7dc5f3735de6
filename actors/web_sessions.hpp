#pragma once

// actors/web_sessions: the browser sessions of `POST /api/session` (issue
// 6). A client trades a token for a random session id sent back as an
// HttpOnly cookie; the store keeps only the SHA-256 of that id (so a
// lookup's timing tells nothing about stored ids), the token's label,
// role and telescope scope, and an expiry. `DELETE /api/session` revokes.
//
//   (caf::put_atom, label, role, telescopes, ttl_ms) -> std::string id
//   (caf::get_atom, id) -> (bool found, label, role, telescopes)
//   (caf::delete_atom, id) -> bool existed

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "caf/behavior.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"

namespace scopehub {

struct web_session {
  std::string label;
  std::string role;
  std::vector<std::string> telescopes;
  std::chrono::steady_clock::time_point expires;
};

struct web_sessions_state {
  static inline const char* name = "web_sessions";
  /// By SHA-256 hex of the session id.
  std::map<std::string, web_session> sessions;
  /// Most sessions kept; the oldest-expiring ones go first.
  size_t max_sessions = 10000;
};

using web_sessions_ptr = caf::stateful_actor<web_sessions_state>*;

/// `max_sessions` bounds the store (a flood of logins cannot grow it).
caf::behavior web_sessions_actor(web_sessions_ptr self, size_t max_sessions);

/// A fresh random session id (32 bytes of RAND_bytes, hex), or "" when
/// the RNG failed.
std::string random_session_id();

/// The value of cookie `name` in a Cookie header ("a=1; b=2"), or "".
std::string cookie_value(const std::string& header, const std::string& name);

} // namespace scopehub

#pragma once

// actors/audit: the audit trail, one JSON object per line in its own file
// (an spdlog file sink; `audit.file` in the config). It records every
// command with its outcome, every authentication failure, every forced
// lease take-over and every feature flag change, with who (identity label,
// role, peer) and when.
//
//   {"time":"2026-12-01T10:00:00.123Z","event":"command","session":"s3",
//    "identity":"token:alice","role":"operator","peer":"127.0.0.1:5123",
//    "telescope":"seestar-001","command_id":"c1","action":"goto",
//    "parameters":{"ra":5.5,"dec":22},"outcome":"ok","duration_ms":812}
//
// Every function may be called from any thread; with no file open they do
// nothing. Not an actor: spdlog serializes the writes.

#include <cstdint>
#include <string>
#include <string_view>

namespace scopehub::audit {

/// Opens (appends to) `path`; an empty path turns auditing off. Returns an
/// empty string or what went wrong.
std::string open(const std::string& path);

/// Flushes and closes the audit file.
void close();

/// True while an audit file is open.
bool enabled() noexcept;

/// One command and how it ended.
struct command_record {
  std::string session;
  std::string identity;
  std::string role;
  std::string peer;
  std::string telescope;
  std::string command_id;
  std::string action;
  std::string parameters; ///< compact JSON object, or empty
  std::string outcome;    ///< "ok" or the error code
  std::string message;    ///< the error text, empty on success
  int64_t duration_ms = -1;
};

void command(const command_record& x);

/// A refused credential: `where` is the path or endpoint, `reason` a
/// short code ("missing_token", "invalid_token", "origin", "scope",
/// "invalid_cookie"), `detail` free text (never the secret itself).
void auth_failure(std::string_view peer, std::string_view where,
                  std::string_view reason, std::string_view detail);

/// An admin changed a runtime feature flag (`via`: "http" or "ws").
void feature_change(std::string_view name, bool enabled,
                    std::string_view identity, std::string_view peer,
                    std::string_view via);

/// An admin took a telescope's control lease from its holder.
void lease_takeover(std::string_view telescope, std::string_view identity,
                    std::string_view session, std::string_view previous);

} // namespace scopehub::audit

#pragma once

// Internal to the session actor (actors/session.cpp, session_commands.cpp
// and session_views.cpp): the helpers they share. Everything
// runs on the session's own thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "actors/metrics.hpp"
#include "actors/session.hpp"
#include "protocol/errors.hpp"
#include "protocol/message.hpp"

namespace scopehub::session_detail {

/// Milliseconds since the Unix epoch (frame timestamps).
int64_t wall_ms();

/// Id of the next server message of this session ("s17-5").
std::string next_id(session_ptr self);

/// Hands one frame that is never held or merged to the outbound side.
void write(session_ptr self, std::string frame, metrics::message_out kind);

/// Writes an `error` frame.
void write_error(session_ptr self, protocol::error_code code,
                 const std::string& text, std::optional<std::string_view> ref,
                 bool subscription_kept = false);

/// True when the session's token may see and command `telescope`.
bool allowed(session_ptr self, const std::string& telescope);

/// `{"subscriptions":[...]}`: the session's subscriptions as the
/// subscribe acknowledgement lists them.
std::string subscriptions_json(session_ptr self);

/// With delta_updates off: `frame` (a status_update) merged into the
/// topic's full state kept by the session, as a full update; empty for a
/// frame it cannot read.
std::string as_full_update(session_ptr self, const std::string& frame);

/// This session as /api/sessions shows it (a JSON object).
std::string stats_json(session_ptr self);

/// Runs one validated control_command: answered exactly once, with a
/// command_response (or an `error` for a general session without a
/// telescope).
void on_command(session_ptr self, const protocol::envelope& env,
                const protocol::control_command& cmd);

/// Answers every command pending at `telescope` with
/// TELESCOPE_UNAVAILABLE: its actor is gone (crashed, or its farm node
/// lost), so no answer will come from it.
void fail_commands_to(session_ptr self, const std::string& telescope,
                      const std::string& why);

/// The command deadline timer `generation` fired: answers COMMAND_TIMEOUT
/// for every command whose telescope did not answer in time.
void on_command_deadline(session_ptr self, uint64_t generation);

} // namespace scopehub::session_detail

// The command path of a session (actors/session.hpp): server actions
// (feature flags) answered here, and everything else checked (role,
// scope, pending cap, telescope known and running) and sent to the
// telescope actor, whose one command_result becomes the client's one
// command_response. Every outcome is counted in the metrics and written
// to the audit trail.

#include <algorithm>
#include <chrono>
#include <optional>

#include <rapidjson/document.h>

#include "actors/audit.hpp"
#include "actors/features.hpp"
#include "actors/metrics.hpp"
#include "actors/session_detail.hpp"
#include "protocol/builders.hpp"
#include "protocol/message.hpp"

namespace scopehub::session_detail {

namespace {

using metrics::message_out;
using protocol::error_code;
using std::chrono::milliseconds;

/// A request to a telescope never waits less than this.
constexpr milliseconds min_command_wait{1000};

void write_failure(session_ptr self, const std::string& command_id,
                   error_code code, const std::string& text,
                   const std::string& result = {}) {
  auto id = next_id(self);
  write(self,
        protocol::make_command_failure({id, wall_ms()}, command_id, code, text,
                                       result),
        message_out::command_response);
}

void write_result(session_ptr self, const std::string& telescope,
                  const std::string& command_id, const command_result& r) {
  protocol::command_response resp;
  resp.command_id = command_id;
  resp.success = r.success;
  resp.result = r.result == "null" ? std::string{} : r.result;
  if (!r.success) {
    resp.error = r.message;
    resp.code = protocol::error_code_from_string(r.error_code)
                  .value_or(error_code::internal);
  }
  resp.duration_ms = r.duration_ms;
  resp.duplicate = r.duplicate;
  auto id = next_id(self);
  write(self, protocol::make_command_response({id, wall_ms(), telescope}, resp),
        message_out::command_response);
}

/// Records a command's outcome (`code` null: success) in the metrics and
/// in the audit trail (if one is open).
void record_outcome(session_ptr self, const std::string& telescope,
                    const std::string& command_id, protocol::action action,
                    const std::string& params, const error_code* code,
                    std::string message, int64_t duration_ms = -1) {
  metrics::count_command(action, code, duration_ms);
  if (!audit::enabled()) return;
  const auto& cfg = self->state.cfg;
  audit::command_record x;
  x.session = cfg.id;
  x.identity = cfg.identity;
  x.role = cfg.role;
  x.peer = cfg.peer;
  x.telescope = telescope;
  x.command_id = command_id;
  x.action = std::string{protocol::to_string(action)};
  x.parameters = params;
  x.outcome = code ? std::string{protocol::to_string(*code)} : "ok";
  x.message = std::move(message);
  x.duration_ms = duration_ms;
  audit::command(x);
}

/// Removes and returns the pending command numbered `ticket`; nothing when
/// it was answered already.
std::optional<session_state::pending_command> take_pending(session_ptr self,
                                                           uint64_t ticket) {
  auto& pending = self->state.in_flight;
  auto i = pending.find(ticket);
  if (i == pending.end()) return std::nullopt;
  auto p = std::move(i->second);
  pending.erase(i);
  return p;
}

/// Answers a pending command that failed without the telescope's answer.
void answer_failure(session_ptr self, const session_state::pending_command& p,
                    error_code code, const std::string& text) {
  if (p.expected) write_failure(self, p.id, code, text);
  record_outcome(self, p.telescope, p.id, p.action, p.params, &code, text);
}

/// set_feature and get_features: answered here, with no telescope.
void on_server_action(session_ptr self, const protocol::envelope& env,
                      const protocol::control_command& cmd) {
  auto& st = self->state;
  const auto action = cmd.action;
  if (action == protocol::action::set_feature) {
    if (st.cfg.role != "admin") {
      auto code = error_code::forbidden;
      std::string text = "set_feature needs the admin role";
      write_failure(self, env.id, code, text);
      record_outcome(self, {}, env.id, action, cmd.parameters, &code, text);
      return;
    }
    rapidjson::Document p;
    p.Parse(cmd.parameters.data(), cmd.parameters.size());
    // The schema has checked both fields and the name.
    auto flag = features::flag_from_string(p["name"].GetString());
    if (flag)
      features::set(*flag, p["enabled"].GetBool(), st.cfg.identity, st.cfg.peer,
                    metrics::to_string(st.cfg.transport));
  }
  auto id = next_id(self);
  write(self,
        protocol::make_command_success({id, wall_ms()}, env.id,
                                       "{\"features\":" + features::to_json()
                                         + "}"),
        message_out::command_response);
  record_outcome(self, {}, env.id, action, cmd.parameters, nullptr, {}, 0);
}

} // namespace

void on_command(session_ptr self, const protocol::envelope& env,
                const protocol::control_command& cmd) {
  auto& st = self->state;
  if (protocol::is_server_action(cmd.action))
    return on_server_action(self, env, cmd);
  std::string telescope = env.telescope_id.value_or(st.cfg.bound_telescope);
  const auto action = cmd.action;
  // Every refusal below is answered and recorded the same way.
  auto refuse = [&](error_code code, const std::string& text) {
    write_failure(self, env.id, code, text);
    record_outcome(self, telescope, env.id, action, cmd.parameters, &code,
                   text);
  };
  if (telescope.empty()) {
    write_error(self, error_code::missing_telescope_id,
                "telescope_id: required on a general session", env.id);
    return;
  }
  if (st.cfg.role == "observer")
    return refuse(error_code::forbidden,
                  "the observer role may not send commands");
  if (protocol::requires_admin(cmd) && st.cfg.role != "admin")
    return refuse(error_code::forbidden,
                  std::string{protocol::to_string(action)}
                    + " needs the admin role");
  if (!allowed(self, telescope))
    return refuse(error_code::forbidden,
                  "this token may not command telescope '" + telescope + "'");
  if (st.in_flight.size() >= st.cfg.max_pending_commands)
    return refuse(error_code::overloaded,
                  "too many pending commands ("
                    + std::to_string(st.cfg.max_pending_commands)
                    + " per session): wait for answers");
  auto entry = st.known.find(telescope);
  if (entry == st.known.end())
    return refuse(error_code::telescope_not_found,
                  "no telescope '" + telescope + "'");
  if (!entry->second.telescope)
    return refuse(error_code::telescope_unavailable,
                  "telescope '" + telescope + "' is not running");
  command_request req;
  req.id = env.id;
  req.identity = st.cfg.identity;
  req.session = st.cfg.id;
  req.role = st.cfg.role;
  req.action = std::string{protocol::to_string(action)};
  req.params = cmd.parameters;
  req.timeout_ms = cmd.timeout_ms.value_or(0);
  // The telescope applies its own default timeouts; wait for the longest.
  auto wait = milliseconds{req.timeout_ms > 0 ? req.timeout_ms
                                              : protocol::max_timeout_ms * 2}
              + st.cfg.command_grace;
  wait = std::max(wait, min_command_wait);
  auto ticket = ++st.tickets;
  auto& pending = st.in_flight[ticket];
  pending.id = env.id;
  pending.telescope = telescope;
  pending.expected = cmd.response_expected;
  pending.action = action;
  // Parameters are kept for the audit line only when someone reads it.
  if (audit::enabled()) pending.params = cmd.parameters;
  pending.deadline = self->clock().now() + wait;
  st.deadlines.arm(self, pending.deadline);
  // No CAF request timeout: one session timer covers every command (see
  // on_command_deadline), which spares CAF's clock two entries per command.
  self
    ->request(entry->second.telescope, caf::infinite, command_atom_v,
              std::move(req))
    .then(
      [self, ticket](const command_result& r) {
        if (r.error_code == "SUPERSEDED") {
          // A newer send of this id (this or a newer connection of the
          // client) gets the one answer.
          take_pending(self, ticket);
          return;
        }
        auto p = take_pending(self, ticket);
        if (!p) return; // answered already (the telescope went away)
        if (p->expected) write_result(self, p->telescope, p->id, r);
        auto code = protocol::error_code_from_string(r.error_code)
                      .value_or(error_code::internal);
        record_outcome(self, p->telescope, p->id, p->action, p->params,
                       r.success ? nullptr : &code, r.message, r.duration_ms);
      },
      [self, ticket](caf::error& err) {
        if (auto p = take_pending(self, ticket))
          answer_failure(self, *p, error_code::telescope_unavailable,
                         "telescope '" + p->telescope
                           + "' went away: " + self->system().render(err));
      });
}

void on_command_deadline(session_ptr self, uint64_t generation) {
  auto& st = self->state;
  auto due = st.deadlines.take_due(
    self, generation, st.in_flight,
    [](const session_state::pending_command& p) { return p.deadline; });
  // Answered here once; the telescope's late answer finds no ticket.
  for (auto ticket : due)
    if (auto p = take_pending(self, ticket))
      answer_failure(self, *p, error_code::command_timeout,
                     "telescope did not answer in time");
}

void fail_commands_to(session_ptr self, const std::string& telescope,
                      const std::string& why) {
  auto& pending = self->state.in_flight;
  for (auto i = pending.begin(); i != pending.end();) {
    if (i->second.telescope != telescope) {
      ++i;
      continue;
    }
    auto p = std::move(i->second);
    i = pending.erase(i);
    answer_failure(self, p, error_code::telescope_unavailable,
                   "telescope '" + telescope + "' went away: " + why);
  }
}

} // namespace scopehub::session_detail

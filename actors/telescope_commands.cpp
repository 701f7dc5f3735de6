// The command half of the telescope actor: admission (idempotency, lease,
// busy), the FIFO with deadlines, device calls, completion from device
// events, cancel, stop, batch and the control lease.
//
// A command moves   queued --dispatch--> calling --last reply--> running
//                      |                    |                       |
//                      +---------+----------+-----------+-----------+
//                                v                      v
//                      answered once: success, device error, timeout,
//                      cancelled, unavailable (link lost)
// Device calls leave in arrival order. One command is `calling` at a time,
// except camera settings (set_gain, ...): up to max_calls_in_flight of them
// wait for their replies together, so a farm controller's settings are not
// paced by the link's round trip. Long operations wait in `running` for
// their device event while the queue moves on. A batch is exclusive:
// nothing else is dispatched until it is answered.

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "actors/audit.hpp"
#include "actors/telescope_state.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "protocol/json_scratch.hpp"
#include "protocol/json_text.hpp"

namespace scopehub {

namespace {

using protocol::category;
using protocol::error_code;
namespace seestar = protocol::seestar;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

time_point now(telescope_ptr self) { return self->clock().now(); }

std::string ledger_key(const command_request& req) {
  return req.identity + '\x1f' + req.id;
}

using protocol::json_text;

std::string status_result(const std::string& status) {
  return json_text([&](auto& w) {
    w.StartObject();
    w.Key("status");
    w.String(status.c_str());
    w.EndObject();
  });
}

command_result failure(error_code code, std::string message,
                       std::string result = "null") {
  command_result r;
  r.success = false;
  r.error_code = std::string{protocol::to_string(code)};
  r.message = std::move(message);
  r.result = std::move(result);
  return r;
}

std::string holder_result(const lease_state& lease) {
  return json_text([&](auto& w) {
    w.StartObject();
    w.Key("controller");
    w.String(lease.session.c_str());
    w.EndObject();
  });
}

void publish_controller(telescope_ptr self) {
  protocol::scratch_document<> delta{rapidjson::kObjectType};
  auto& a = delta.GetAllocator();
  auto& lease = self->state.lease;
  if (lease.session.empty())
    delta.AddMember("controller", rapidjson::Value{}, a);
  else
    delta.AddMember("controller", rapidjson::Value{lease.session.c_str(), a},
                    a);
  apply_status(self, category::system, delta);
}

void release_lease(telescope_ptr self, const char* why) {
  auto& lease = self->state.lease;
  if (lease.session.empty()) return;
  spdlog::info("telescope {}: control lease of {} ends ({})",
               self->state.cfg.id, lease.session, why);
  if (lease.holder) self->demonitor(lease.holder);
  lease = lease_state{};
  publish_controller(self);
}

bool lease_blocks(telescope_ptr self, const command_request& req) {
  auto& lease = self->state.lease;
  if (lease.session.empty() || lease.session == req.session) return false;
  if (now(self) >= lease.expires) {
    release_lease(self, "ttl expired");
    return false;
  }
  return true;
}

/// Answers a command exactly once, records it in the ledger, logs it.
void finish(telescope_ptr self, uint64_t key, command_result result) {
  auto& st = self->state;
  auto i = st.pending.find(key);
  if (i == st.pending.end()) return;
  auto& cmd = i->second;
  result.duration_ms
    = duration_cast<milliseconds>(now(self) - cmd.arrival).count();
  if (result.result.empty()) result.result = "null";
  spdlog::info("command {} {} on {}: {} ({} ms)", cmd.req.id, cmd.req.action,
               st.cfg.id, result.success ? "ok" : result.error_code,
               result.duration_ms);
  auto lk = ledger_key(cmd.req);
  st.ledger[lk] = ledger_entry{true, 0, result, now(self)};
  cmd.rp.deliver(std::move(result));
  if (cmd.rpc != 0) {
    // A late reply to this command must not be taken for anything else.
    auto r = st.rpcs.find(cmd.rpc);
    if (r != st.rpcs.end()) r->second.purpose = rpc_purpose::ignore;
  }
  for (auto q = st.queue.begin(); q != st.queue.end(); ++q)
    if (*q == key) {
      st.queue.erase(q);
      break;
    }
  st.pending.erase(i);
}

void dispatch(telescope_ptr self);

/// A single camera setting: it may call the device beside other settings.
bool shares_link(const pending_command& cmd) {
  return !cmd.exclusive && cmd.steps.size() == 1
         && seestar_driver::is_setting(cmd.steps.front().action);
}

/// May the queued command `next` call the device now?
bool may_start(telescope_ptr self, const pending_command& next) {
  size_t calling = 0;
  bool alone = false; // a calling command that must not be joined
  for (auto& [key, cmd] : self->state.pending)
    if (cmd.stage == command_stage::calling
        || (cmd.exclusive && cmd.stage != command_stage::queued)) {
      ++calling;
      alone = alone || !shares_link(cmd);
    }
  if (calling == 0) return true;
  return !alone && shares_link(next)
         && calling < self->state.cfg.max_calls_in_flight;
}

seestar_driver::device_facts facts_of(telescope_ptr self) {
  seestar_driver::device_facts facts;
  auto& focus = status_of(self, category::focus);
  if (focus.IsObject() && focus.HasMember("focus_position")
      && focus["focus_position"].IsNumber())
    facts.focus_position = focus["focus_position"].GetInt();
  for (auto& [key, cmd] : self->state.pending)
    if (cmd.stage != command_stage::queued && cmd.step < cmd.steps.size()
        && cmd.steps[cmd.step].action == "goto")
      facts.goto_running = true;
  return facts;
}

void send_progress(telescope_ptr self, pending_command& cmd, const char* state,
                   const std::string& detail) {
  if (cmd.issuer)
    self->send(cmd.issuer, progress_atom_v, cmd.req.id, std::string{state},
               detail);
}

void next_step(telescope_ptr self, uint64_t key);

/// Settings the device confirms only by its reply (no event follows):
/// reflect them in the imaging status so subscribers see the change.
void reflect_settings(telescope_ptr self, const command_step& step) {
  const auto& p = step.params;
  protocol::scratch_document<> delta{rapidjson::kObjectType};
  auto& a = delta.GetAllocator();
  auto copy = [&](const char* from, const char* to) {
    if (p.IsObject() && p.HasMember(from))
      delta.AddMember(rapidjson::StringRef(to), rapidjson::Value{p[from], a},
                      a);
  };
  if (step.action == "set_gain") {
    copy("gain", "gain");
  } else if (step.action == "set_exposure") {
    copy("exposure_ms", "exposure_ms");
  } else if (step.action == "start_imaging") {
    copy("exposure_ms", "exposure_ms");
    copy("target_name", "target_name");
  } else if (step.action == "set_image_enhancement" && p.IsObject()) {
    rapidjson::Value merged{rapidjson::kObjectType};
    auto& imaging = status_of(self, category::imaging);
    if (imaging.HasMember("image_enhancement")
        && imaging["image_enhancement"].IsObject())
      merged.CopyFrom(imaging["image_enhancement"], a);
    for (auto& m : p.GetObject()) {
      rapidjson::Value v{m.value, a};
      if (auto i = merged.FindMember(m.name); i != merged.MemberEnd())
        i->value = v;
      else
        merged.AddMember(rapidjson::Value{m.name, a}, v, a);
    }
    delta.AddMember("image_enhancement", merged, a);
  }
  if (delta.MemberCount() > 0) apply_status(self, category::imaging, delta);
}

/// Records the outcome of the current step; continues a batch or answers.
void step_succeeded(telescope_ptr self, uint64_t key, std::string result) {
  auto& cmd = self->state.pending.at(key);
  cmd.stage = command_stage::calling; // until the next step decides
  cmd.last_result = std::move(result);
  reflect_settings(self, cmd.steps[cmd.step]);
  if (cmd.steps.size() > 1 || cmd.req.action == "batch") {
    rapidjson::Document step{rapidjson::kObjectType};
    auto& a = cmd.step_results.GetAllocator();
    rapidjson::Value entry{rapidjson::kObjectType};
    entry.AddMember("action",
                    rapidjson::Value{cmd.steps[cmd.step].action.c_str(), a}, a);
    entry.AddMember("success", true, a);
    protocol::scratch_document<> parsed;
    parsed.Parse(cmd.last_result.c_str());
    rapidjson::Value copy;
    copy.CopyFrom(parsed, a);
    entry.AddMember("result", copy, a);
    cmd.step_results.PushBack(entry, a);
  }
  cmd.step += 1;
  if (cmd.step < cmd.steps.size()) {
    next_step(self, key);
    return;
  }
  command_result r;
  r.success = true;
  if (cmd.req.action == "batch")
    r.result = json_text([&](auto& w) {
      w.StartObject();
      w.Key("steps");
      cmd.step_results.Accept(w);
      w.EndObject();
    });
  else
    r.result = cmd.last_result;
  finish(self, key, std::move(r));
  dispatch(self);
}

/// Fails the current step (and with it the whole command).
void step_failed(telescope_ptr self, uint64_t key, command_result r) {
  auto& cmd = self->state.pending.at(key);
  if (cmd.req.action == "batch") {
    auto& a = cmd.step_results.GetAllocator();
    rapidjson::Value entry{rapidjson::kObjectType};
    entry.AddMember("action",
                    rapidjson::Value{cmd.steps[cmd.step].action.c_str(), a}, a);
    entry.AddMember("success", false, a);
    entry.AddMember("error_code", rapidjson::Value{r.error_code.c_str(), a}, a);
    entry.AddMember("error", rapidjson::Value{r.message.c_str(), a}, a);
    cmd.step_results.PushBack(entry, a);
    r.result = json_text([&](auto& w) {
      w.StartObject();
      w.Key("steps");
      cmd.step_results.Accept(w);
      w.EndObject();
    });
  }
  finish(self, key, std::move(r));
  dispatch(self);
}

std::string snapshot_result(telescope_ptr self, const rapidjson::Value& params);

/// Sends the next device call of the current step, or completes it.
void next_call(telescope_ptr self, uint64_t key) {
  auto& cmd = self->state.pending.at(key);
  if (cmd.next_call < cmd.plan.calls.size()) {
    auto& call = cmd.plan.calls[cmd.next_call++];
    cmd.stage = command_stage::calling;
    cmd.rpc
      = send_rpc(self, call.method, call.params, rpc_purpose::command, key);
    if (cmd.rpc == 0)
      step_failed(
        self, key,
        failure(error_code::telescope_unavailable, "telescope link is down"));
    return;
  }
  cmd.rpc = 0;
  using seestar_driver::completion;
  switch (cmd.plan.done) {
    case completion::on_reply:
      step_succeeded(self, key, status_result(cmd.plan.status));
      return;
    case completion::timed:
      cmd.stage = command_stage::running;
      send_progress(self, cmd, "accepted", "{}");
      self->delayed_send(self, cmd.plan.duration, move_done_atom_v, key);
      break;
    default:
      if (cmd.done_early) {
        step_succeeded(self, key, status_result(cmd.plan.status));
        return;
      }
      cmd.stage = command_stage::running;
      send_progress(self, cmd, "accepted", "{}");
      break;
  }
  // A running long operation frees the queue for non-conflicting commands.
  dispatch(self);
}

/// Local actions and the device plan of the current step.
void next_step(telescope_ptr self, uint64_t key) {
  auto& cmd = self->state.pending.at(key);
  auto& step = cmd.steps[cmd.step];
  cmd.done_early = false;
  cmd.next_call = 0;
  if (step.action == "get_status") {
    step_succeeded(self, key, snapshot_result(self, step.params));
    return;
  }
  if (step.action == "get_image_enhancement") {
    auto& imaging = status_of(self, category::imaging);
    std::string r = "{}";
    if (imaging.HasMember("image_enhancement"))
      r = protocol::to_json(imaging["image_enhancement"]);
    step_succeeded(self, key, "{\"image_enhancement\":" + r + "}");
    return;
  }
  cmd.plan
    = seestar_driver::plan_action(step.action, step.params, facts_of(self));
  if (!cmd.plan.ok) {
    step_failed(self, key, failure(cmd.plan.error, cmd.plan.message));
    return;
  }
  next_call(self, key);
}

/// Starts queued commands, in order, while the device may take them.
void dispatch(telescope_ptr self) {
  auto& st = self->state;
  while (!st.queue.empty()
         && may_start(self, st.pending.at(st.queue.front()))) {
    auto key = st.queue.front();
    st.queue.pop_front();
    auto& cmd = st.pending.at(key);
    cmd.stage = command_stage::calling;
    next_step(self, key);
  }
}

/// Result of get_status: every (or the requested) category's full state.
std::string snapshot_result(telescope_ptr self,
                            const rapidjson::Value& params) {
  std::vector<category> cats;
  if (params.IsObject() && params.HasMember("categories")
      && params["categories"].IsArray()) {
    for (auto& c : params["categories"].GetArray())
      if (c.IsString())
        if (auto cat = protocol::category_from_string(c.GetString()))
          cats.push_back(*cat);
  }
  if (cats.empty())
    cats.assign(protocol::all_categories.begin(),
                protocol::all_categories.end());
  return json_text([&](auto& w) {
    w.StartObject();
    for (auto cat : cats) {
      auto name = protocol::to_string(cat);
      w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
      status_of(self, cat).Accept(w);
    }
    w.EndObject();
  });
}

// -- local actions
// ----------------------------------------------------------------

command_result ok_result(std::string result) {
  command_result r;
  r.success = true;
  r.result = std::move(result);
  return r;
}

command_result do_acquire(telescope_ptr self, const command_request& req,
                          const rapidjson::Value& params) {
  auto& st = self->state;
  auto& lease = st.lease;
  auto ttl = st.cfg.lease_ttl;
  if (params.HasMember("ttl_ms") && params["ttl_ms"].IsNumber())
    ttl = milliseconds{params["ttl_ms"].GetInt64()};
  bool force = params.HasMember("force") && params["force"].IsBool()
               && params["force"].GetBool();
  if (lease_blocks(self, req)) {
    if (!force)
      return failure(error_code::control_held,
                     "telescope " + st.cfg.id + " is controlled by session "
                       + lease.session,
                     holder_result(lease));
    if (req.role != "admin")
      return failure(error_code::forbidden,
                     "only an admin may take over a held lease");
    spdlog::warn("telescope {}: admin {} took the lease from {}", st.cfg.id,
                 req.identity, lease.session);
    audit::lease_takeover(st.cfg.id, req.identity, req.session, lease.session);
  }
  auto holder = caf::actor_cast<caf::actor>(self->current_sender());
  if (lease.holder && lease.holder != holder) self->demonitor(lease.holder);
  bool changed = lease.session != req.session;
  lease.session = req.session;
  lease.identity = req.identity;
  lease.expires = now(self) + ttl;
  if (holder && lease.holder != holder) self->monitor(holder);
  lease.holder = holder;
  if (changed) publish_controller(self);
  return ok_result(json_text([&](auto& w) {
    w.StartObject();
    w.Key("controller");
    w.String(lease.session.c_str());
    w.Key("ttl_ms");
    w.Int64(ttl.count());
    w.EndObject();
  }));
}

command_result do_release(telescope_ptr self, const command_request& req) {
  auto& lease = self->state.lease;
  if (lease.session.empty()) return ok_result(R"({"controller":null})");
  if (lease.session != req.session)
    return failure(error_code::control_held,
                   "the lease is held by session " + lease.session,
                   holder_result(lease));
  release_lease(self, "released");
  return ok_result(R"({"controller":null})");
}

/// Device calls that stop a running command's operation.
std::vector<seestar_driver::device_call> stop_calls(const std::string& act) {
  if (act == "goto")
    return {{"iscope_stop_view", R"({"stage":"AutoGoto"})"},
            {"scope_move", R"(["none"])"}};
  if (act == "move")
    return {{"scope_speed_move", R"({"speed":0,"angle":0,"dur_sec":0})"}};
  if (act == "park") return {{"scope_move", R"(["none"])"}};
  if (act == "start_imaging")
    return {{"iscope_stop_view", R"({"stage":"Stack"})"}};
  return {};
}

command_result do_cancel(telescope_ptr self, const command_request& req,
                         const rapidjson::Value& params) {
  auto& st = self->state;
  std::string target;
  if (params.HasMember("command_id") && params["command_id"].IsString())
    target = params["command_id"].GetString();
  for (auto& [key, cmd] : st.pending) {
    if (cmd.req.id != target || cmd.req.identity != req.identity) continue;
    auto k = key;
    auto msg = "cancelled by " + req.id;
    if (cmd.stage == command_stage::queued) {
      finish(self, k, failure(error_code::command_cancelled, msg));
    } else {
      auto calls = stop_calls(cmd.steps[cmd.step].action);
      int64_t last = 0;
      for (auto& c : calls)
        last = send_rpc(self, c.method, c.params, rpc_purpose::ignore);
      if (last != 0) {
        // Answer once the device acknowledged the stop.
        st.rpcs[last]
          = rpc_entry{rpc_purpose::cancel_stop, calls.back().method, k};
        cmd.stage = command_stage::running; // stays until the stop reply
        cmd.cancelling = true;
      } else {
        finish(self, k, failure(error_code::command_cancelled, msg));
        dispatch(self);
      }
    }
    return ok_result("{\"cancelled\":\"" + target + "\"}");
  }
  return failure(error_code::invalid_parameters,
                 "payload.parameters.command_id: no pending command '" + target
                   + "' of this client");
}

/// After a successful stop: every other motion is over.
void cancel_motions_after_stop(telescope_ptr self, uint64_t stop_key) {
  auto& st = self->state;
  std::vector<uint64_t> victims;
  for (auto& [key, cmd] : st.pending)
    if (key != stop_key && cmd.motion) victims.push_back(key);
  for (auto k : victims)
    finish(self, k,
           failure(error_code::command_cancelled, "stopped by a stop command"));
}

/// Parses validated parameters (the session checked them).
rapidjson::Document parse_params(const std::string& text) {
  rapidjson::Document doc;
  if (text.empty() || doc.Parse(text.c_str()).HasParseError()
      || !doc.IsObject())
    doc.SetObject();
  return doc;
}

} // namespace

// -- entry points
// -------------------------------------------------------------------

caf::result<command_result> accept_command(telescope_ptr self,
                                           command_request& req) {
  auto& st = self->state;
  auto lk = ledger_key(req);
  // The promise is made only when the answer is deferred: making one marks
  // the request answered, so an immediate return value would be lost.
  // Idempotency: a known id is never executed twice.
  if (auto i = st.ledger.find(lk); i != st.ledger.end()) {
    if (i->second.finished) {
      auto r = i->second.result;
      r.duplicate = true;
      return r;
    }
    auto p = st.pending.find(i->second.key);
    if (p != st.pending.end()) {
      // Still running: the single answer goes to the latest connection.
      command_result superseded;
      superseded.error_code = "SUPERSEDED";
      p->second.rp.deliver(superseded);
      // Read the sender first: making the promise moves it out.
      p->second.issuer = caf::actor_cast<caf::actor>(self->current_sender());
      p->second.rp = self->make_response_promise<command_result>();
      return p->second.rp;
    }
  }
  if (req.action == "reboot" && req.role != "admin")
    return failure(error_code::forbidden, "reboot needs the admin role");
  auto params = parse_params(req.params);
  // Lease and local actions first: they work whenever the actor runs.
  if (req.action == "acquire_control") return do_acquire(self, req, params);
  if (req.action == "release_control") return do_release(self, req);
  if (req.action == "cancel") return do_cancel(self, req, params);
  if (st.phase != link_phase::ready)
    return failure(error_code::telescope_unavailable,
                   "telescope " + st.cfg.id
                     + " is offline: " + st.offline_reason);
  if (seestar_driver::needs_lease(req.action) && lease_blocks(self, req))
    return failure(error_code::control_held,
                   "telescope " + st.cfg.id + " is controlled by session "
                     + st.lease.session,
                   holder_result(st.lease));
  if (st.pending.size() >= st.cfg.max_pending)
    return failure(error_code::overloaded,
                   "too many pending commands for " + st.cfg.id);
  // Build the steps (a batch has several; nested batches are refused).
  pending_command cmd;
  cmd.key = st.next_key++;
  if (req.action == "batch") {
    if (params.HasMember("commands") && params["commands"].IsArray())
      for (auto& c : params["commands"].GetArray()) {
        command_step step;
        if (c.IsObject() && c.HasMember("action") && c["action"].IsString())
          step.action = c["action"].GetString();
        step.params.SetObject();
        if (c.IsObject() && c.HasMember("parameters")
            && c["parameters"].IsObject())
          step.params.CopyFrom(c["parameters"], step.params.GetAllocator());
        if (step.action == "batch" || step.action == "cancel"
            || step.action == "acquire_control"
            || step.action == "release_control")
          return failure(error_code::invalid_parameters,
                         "payload.parameters.commands: '" + step.action
                           + "' cannot be a batch step");
        cmd.motion = cmd.motion || seestar_driver::is_motion(step.action);
        cmd.steps.push_back(std::move(step));
      }
    if (cmd.steps.empty())
      return failure(error_code::invalid_parameters,
                     "payload.parameters.commands: must not be empty");
    cmd.exclusive = true;
  } else {
    command_step step;
    step.action = req.action;
    step.params = std::move(params);
    cmd.motion = seestar_driver::is_motion(req.action);
    cmd.steps.push_back(std::move(step));
  }
  // One motion at a time: a conflicting one is refused, not queued.
  if (cmd.motion)
    for (auto& [key, other] : st.pending)
      if (other.motion)
        return failure(error_code::telescope_busy,
                       "telescope " + st.cfg.id + " is busy with "
                         + other.req.action + " " + other.req.id);
  bool is_long = false;
  for (auto& s : cmd.steps)
    is_long = is_long || seestar_driver::is_long_operation(s.action);
  auto timeout = milliseconds{req.timeout_ms};
  if (timeout.count() <= 0)
    timeout = is_long ? st.cfg.long_operation_timeout : st.cfg.message_timeout;
  cmd.arrival = now(self);
  cmd.deadline = cmd.arrival + timeout;
  auto cmd_deadline = cmd.deadline;
  cmd.req = std::move(req);
  // Read the sender first: making the promise moves it out.
  cmd.issuer = caf::actor_cast<caf::actor>(self->current_sender());
  cmd.rp = self->make_response_promise<command_result>();
  auto rp = cmd.rp;
  auto key = cmd.key;
  st.ledger[lk] = ledger_entry{false, key, {}, cmd.arrival};
  bool is_stop = cmd.req.action == "stop";
  st.pending.emplace(key, std::move(cmd));
  st.deadlines.arm(self, cmd_deadline);
  if (is_stop) {
    // stop jumps the queue: it must act at once.
    auto& c = st.pending.at(key);
    c.stage = command_stage::calling;
    next_step(self, key);
  } else {
    st.queue.push_back(key);
    dispatch(self);
  }
  return rp;
}

void on_command_reply(telescope_ptr self, const rpc_entry& entry,
                      seestar::response& resp) {
  auto& st = self->state;
  auto i = st.pending.find(entry.key);
  if (i == st.pending.end()) return;
  auto& cmd = i->second;
  if (entry.purpose == rpc_purpose::cancel_stop) {
    finish(self, entry.key,
           failure(error_code::command_cancelled, "cancelled by the client"));
    dispatch(self);
    return;
  }
  if (cmd.rpc != resp.id) return;
  cmd.rpc = 0;
  if (cmd.cancelling) return; // answered when the stop call is acknowledged
  if (resp.code != 0) {
    auto text
      = resp.error.empty() ? seestar::device_error_text(resp.code) : resp.error;
    step_failed(self, entry.key,
                failure(seestar::to_protocol_error(resp.code),
                        "device refused " + entry.method + ": " + text + " ("
                          + std::to_string(resp.code) + ")",
                        "{\"device_code\":" + std::to_string(resp.code) + "}"));
    return;
  }
  bool was_stop = cmd.req.action == "stop";
  auto key = entry.key;
  next_call(self, key);
  if (was_stop && st.pending.count(key) == 0)
    cancel_motions_after_stop(self, key);
}

void on_command_event(telescope_ptr self, const seestar::event& ev) {
  auto& st = self->state;
  const auto& body = ev.body;
  if (!body.IsObject()) return;
  std::string state;
  if (body.HasMember("state") && body["state"].IsString())
    state = body["state"].GetString();
  // Page-form events repeat the lifecycle ones, except Stack's per-frame
  // frame_complete, which only exists in page form (protocol §3.1).
  if (body.HasMember("page") && state != "frame_complete") return;
  using seestar_driver::completion;
  std::vector<uint64_t> keys;
  for (auto& [key, cmd] : st.pending)
    keys.push_back(key);
  for (auto key : keys) {
    auto i = st.pending.find(key);
    if (i == st.pending.end()) continue;
    auto& cmd = i->second;
    if (cmd.stage == command_stage::queued || cmd.cancelling) continue;
    auto done = cmd.plan.done;
    bool mine = (done == completion::goto_done && ev.name == "AutoGoto")
                || (done == completion::park_done && ev.name == "ScopeHome")
                || (done == completion::focus_done && ev.name == "FocuserMove")
                || (done == completion::first_frame && ev.name == "Stack");
    if (done == completion::goto_done && ev.name == "ScopeGoto"
        && state == "working" && cmd.stage == command_stage::running) {
      std::string detail = "{}";
      if (body.HasMember("dist_deg") && body["dist_deg"].IsNumber())
        detail = "{\"dist_deg\":" + std::to_string(body["dist_deg"].GetDouble())
                 + "}";
      send_progress(self, cmd, "working", detail);
      continue;
    }
    if (!mine) continue;
    bool complete
      = state == "complete"
        || (done == completion::first_frame && state == "frame_complete");
    if (complete) {
      if (cmd.stage == command_stage::running)
        step_succeeded(self, key, status_result(cmd.plan.status));
      else
        cmd.done_early = true; // the event beat the reply
    } else if (state == "fail") {
      int code = body.HasMember("code") && body["code"].IsInt()
                   ? body["code"].GetInt()
                   : 0;
      std::string text = body.HasMember("error") && body["error"].IsString()
                           ? body["error"].GetString()
                           : seestar::device_error_text(code);
      step_failed(self, key,
                  failure(seestar::to_protocol_error(code),
                          ev.name + " failed: " + text + " ("
                            + std::to_string(code) + ")",
                          "{\"device_code\":" + std::to_string(code) + "}"));
    } else if (state == "cancel" && cmd.stage == command_stage::running) {
      step_failed(self, key,
                  failure(error_code::command_cancelled,
                          ev.name + " was cancelled on the telescope"));
    }
  }
}

void on_deadline(telescope_ptr self, uint64_t gen) {
  auto& st = self->state;
  auto due = st.deadlines.take_due(
    self, gen, st.pending, [](const pending_command& c) { return c.deadline; });
  for (auto key : due) {
    auto& cmd = st.pending.at(key);
    bool dispatched = cmd.stage != command_stage::queued;
    auto ms = duration_cast<milliseconds>(cmd.deadline - cmd.arrival).count();
    finish(self, key,
           failure(error_code::command_timeout,
                   dispatched ? "telescope did not finish within "
                                  + std::to_string(ms) + " ms"
                              : "deadline of " + std::to_string(ms)
                                  + " ms passed before the command could be "
                                    "sent",
                   dispatched ? R"({"dispatched":true})"
                              : R"({"dispatched":false})"));
  }
  if (!due.empty()) dispatch(self);
}

void on_move_done(telescope_ptr self, uint64_t key) {
  auto i = self->state.pending.find(key);
  if (i == self->state.pending.end()
      || i->second.stage != command_stage::running || i->second.cancelling)
    return;
  step_succeeded(self, key, status_result(i->second.plan.status));
}

void fail_all_pending(telescope_ptr self, const std::string& reason) {
  auto& st = self->state;
  std::vector<uint64_t> keys;
  for (auto& [key, cmd] : st.pending)
    keys.push_back(key);
  for (auto k : keys)
    finish(self, k,
           failure(error_code::telescope_unavailable,
                   "telescope " + st.cfg.id + " lost: " + reason));
}

void expire_ledger_and_lease(telescope_ptr self) {
  auto& st = self->state;
  auto t = now(self);
  for (auto i = st.ledger.begin(); i != st.ledger.end();) {
    if (i->second.finished && t - i->second.at > st.cfg.dedup_window)
      i = st.ledger.erase(i);
    else
      ++i;
  }
  if (!st.lease.session.empty() && t >= st.lease.expires)
    release_lease(self, "ttl expired");
}

void on_holder_down(telescope_ptr self, const caf::actor_addr& who) {
  auto& lease = self->state.lease;
  if (lease.holder && lease.holder.address() == who) {
    lease.holder = caf::actor{};
    release_lease(self, "holder disconnected");
  }
}

} // namespace scopehub

#include "actors/session.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <variant>

#include <spdlog/spdlog.h>

#include "actors/audit.hpp"
#include "actors/auth.hpp"
#include "actors/features.hpp"
#include "actors/metrics.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "protocol/builders.hpp"
#include "protocol/codec.hpp"
#include "protocol/glob.hpp"
#include "protocol/json_text.hpp"
#include "protocol/message.hpp"

namespace scopehub {

namespace {

using protocol::category;
using protocol::error_code;
using std::chrono::milliseconds;

/// Topics answer a subscribe at once; this only bounds a dead one.
constexpr std::chrono::seconds topic_timeout{10};

/// A request to a telescope never waits less than this.
constexpr milliseconds min_command_wait{1000};

int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Id of the next server message of this session ("s17-5").
std::string next_id(session_ptr self) {
  return self->state.cfg.id + "-" + std::to_string(++self->state.frames_sent);
}

using metrics::message_out;

void write(session_ptr self, std::string frame, message_out kind) {
  metrics::count_out(kind);
  self->state.out.send(std::make_shared<const std::string>(std::move(frame)));
}

void write_error(session_ptr self, error_code code, const std::string& text,
                 std::optional<std::string_view> ref,
                 bool subscription_kept = false) {
  auto id = next_id(self);
  write(
    self,
    protocol::make_error({id, wall_ms()}, code, text, ref, subscription_kept),
    message_out::error);
}

void close_session(session_ptr self, protocol::close_code code,
                   std::string reason) {
  auto& st = self->state;
  if (st.closing) return;
  st.closing = true;
  spdlog::info("session {} ({}): closing {} {}", st.cfg.id, st.cfg.peer,
               static_cast<int>(code), reason);
  if (auto pipe = st.pipe.lock())
    pipe->close(static_cast<uint16_t>(code), std::move(reason));
  else
    self->quit();
}

void write_heartbeat(session_ptr self, bool first) {
  auto& st = self->state;
  protocol::server_heartbeat hb;
  hb.server_time = wall_ms();
  hb.session_id = st.cfg.id;
  hb.heartbeat_interval_ms = st.cfg.heartbeat_interval.count();
  if (first) {
    hb.server = std::string{"scopehub/"} + SCOPEHUB_VERSION;
    hb.role = st.cfg.role;
  }
  auto id = next_id(self);
  write(self, protocol::make_heartbeat({id, hb.server_time}, hb),
        message_out::heartbeat);
  st.last_heartbeat = self->clock().now();
}

/// True when the session's token may see and command `telescope`.
bool allowed(session_ptr self, const std::string& telescope) {
  return auth::telescope_allowed(self->state.cfg.telescopes, telescope);
}

/// Takes one token from the message bucket. On an empty bucket, answers
/// RATE_LIMITED (or closes with 1008 on sustained abuse) and returns
/// false: the frame must not be executed.
bool take_token(session_ptr self, const std::string* text) {
  auto& st = self->state;
  auto now = self->clock().now();
  const auto burst = static_cast<double>(st.cfg.message_burst);
  std::chrono::duration<double> elapsed = now - st.rate_refill;
  st.rate_refill = now;
  st.rate_tokens
    = std::min(burst, st.rate_tokens + elapsed.count() * st.cfg.message_rate);
  if (st.rate_tokens >= 1.0) {
    st.rate_tokens -= 1.0;
    st.rate_limited_in_a_row = 0;
    return true;
  }
  ++st.rate_limited_total;
  metrics::global().rate_limited.fetch_add(1, std::memory_order_relaxed);
  if (++st.rate_limited_in_a_row >= st.cfg.rate_abuse_limit) {
    close_session(self, protocol::close_code::policy, "rate limit abuse");
    return false;
  }
  // Parse only to name the refused message in ref_id.
  std::optional<std::string> ref;
  if (text) {
    auto msg = protocol::parse_client_message(*text, st.cfg.parse);
    ref = msg ? std::optional<std::string>{msg->env.id} : msg.error().ref_id;
  }
  char budget[96];
  std::snprintf(budget, sizeof(budget),
                "over the message budget (%g/s, burst %zu): not executed",
                st.cfg.message_rate, st.cfg.message_burst);
  write_error(self, error_code::rate_limited, budget, ref);
  return false;
}

// -- subscriptions ------------------------------------------------------------

bool covers(const subscription& sub, const std::string& telescope) {
  switch (sub.kind) {
    case subscription::one: return sub.target == telescope;
    case subscription::pattern:
      return protocol::glob_match(sub.target, telescope);
    case subscription::all: return true;
  }
  return false;
}

/// Brings the topic subscriptions of one telescope in line with the
/// session's subscriptions; `resume` gives resume_from per category.
void sync_topics(session_ptr self, const std::string& telescope,
                 const std::map<category, uint64_t>& resume = {}) {
  auto& st = self->state;
  auto entry = st.known.find(telescope);
  if (entry == st.known.end()
      || entry->second.topics.size() != protocol::all_categories.size()
      || !allowed(self, telescope))
    return;
  std::set<category> wanted;
  for (auto& [key, sub] : st.subs)
    if (covers(sub, telescope))
      wanted.insert(sub.categories.begin(), sub.categories.end());
  for (auto cat : protocol::all_categories) {
    auto topic = entry->second.topics[static_cast<size_t>(cat)];
    auto key = std::make_pair(telescope, cat);
    bool has = st.active.count(key) > 0;
    if (wanted.count(cat) && !has) {
      int64_t from = -1;
      if (auto r = resume.find(cat); r != resume.end())
        from = static_cast<int64_t>(r->second);
      // The topic answers with its seq after the catch-up frames.
      self
        ->request(topic, topic_timeout, caf::subscribe_atom_v, caf::actor{self},
                  from)
        .then([](uint64_t) {}, [](caf::error&) {});
      st.active.insert(key);
    } else if (!wanted.count(cat) && has) {
      self->send(topic, caf::unsubscribe_atom_v, caf::actor{self});
      st.active.erase(key);
      st.out.forget(telescope, std::string{protocol::to_string(cat)});
    }
  }
}

/// `result.subscriptions` of a subscribe/unsubscribe acknowledgement.
std::string subscriptions_json(session_ptr self) {
  std::string out = "{\"subscriptions\":[";
  bool first = true;
  for (auto& [key, sub] : self->state.subs) {
    if (!first) out += ',';
    first = false;
    switch (sub.kind) {
      case subscription::one:
        out += "{\"telescope_id\":\"" + sub.target + "\"";
        break;
      case subscription::pattern:
        out += "{\"telescope_pattern\":\"" + sub.target + "\"";
        break;
      case subscription::all: out += "{\"all_telescopes\":true"; break;
    }
    out += ",\"categories\":[";
    bool first_cat = true;
    for (auto cat : sub.categories) {
      if (!first_cat) out += ',';
      first_cat = false;
      out += '"';
      out += protocol::to_string(cat);
      out += '"';
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

subscription target_of(const protocol::envelope& env,
                       const protocol::subscription_spec& spec) {
  subscription sub;
  if (env.telescope_id) {
    sub.kind = subscription::one;
    sub.target = *env.telescope_id;
  } else if (spec.telescope_pattern) {
    sub.kind = subscription::pattern;
    sub.target = *spec.telescope_pattern;
  }
  return sub;
}

std::string key_of(const subscription& sub) {
  switch (sub.kind) {
    case subscription::one: return "id:" + sub.target;
    case subscription::pattern: return "pattern:" + sub.target;
    case subscription::all: break;
  }
  return "all";
}

void ack(session_ptr self, const std::string& ref) {
  auto id = next_id(self);
  write(self,
        protocol::make_command_success({id, wall_ms()}, ref,
                                       subscriptions_json(self)),
        message_out::command_response);
}

void on_subscribe(session_ptr self, const protocol::envelope& env,
                  const protocol::subscription_spec& spec, bool add) {
  auto& st = self->state;
  auto sub = target_of(env, spec);
  auto cats = protocol::categories_of(spec.types);
  auto key = key_of(sub);
  if (add && sub.kind == subscription::one && !allowed(self, sub.target)) {
    write_error(self, error_code::forbidden,
                "this token may not see telescope '" + sub.target + "'",
                env.id);
    return;
  }
  if (add && st.subs.count(key) == 0
      && st.subs.size() >= st.cfg.max_subscriptions) {
    write_error(self, error_code::overloaded,
                "subscription limit reached ("
                  + std::to_string(st.cfg.max_subscriptions)
                  + " per session): unsubscribe first",
                env.id);
    return;
  }
  if (add) {
    auto& entry = st.subs[key];
    entry.kind = sub.kind;
    entry.target = sub.target;
    entry.categories.insert(cats.begin(), cats.end());
  } else if (auto i = st.subs.find(key); i != st.subs.end()) {
    for (auto cat : cats)
      i->second.categories.erase(cat);
    if (i->second.categories.empty()) st.subs.erase(i);
  }
  for (auto& [id, entry] : st.known)
    if (!add || covers(sub, id) || sub.kind == subscription::all)
      sync_topics(self, id,
                  sub.kind == subscription::one && sub.target == id
                    ? spec.resume_from
                    : std::map<category, uint64_t>{});
  if (add && sub.kind == subscription::one && st.known.count(sub.target) == 0)
    write_error(self, error_code::telescope_not_found,
                "no telescope '" + sub.target
                  + "' (yet): the subscription is kept",
                env.id, true);
  ack(self, env.id);
}

// -- commands
// -------------------------------------------------------------------

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
  auto expected = cmd.response_expected;
  auto id = env.id;
  st.in_flight.insert(id);
  // Parameters are kept for the audit line only when someone reads it.
  auto params = audit::enabled() ? cmd.parameters : std::string{};
  self->request(entry->second.telescope, wait, command_atom_v, std::move(req))
    .then(
      [self, telescope, id, expected, action, params](const command_result& r) {
        if (r.error_code == "SUPERSEDED")
          return; // a newer connection of this client gets the answer
        self->state.in_flight.erase(id);
        if (expected) write_result(self, telescope, id, r);
        auto code = protocol::error_code_from_string(r.error_code)
                      .value_or(error_code::internal);
        record_outcome(self, telescope, id, action, params,
                       r.success ? nullptr : &code, r.message, r.duration_ms);
      },
      [self, telescope, id, expected, action, params](caf::error& err) {
        self->state.in_flight.erase(id);
        auto timeout = err == caf::sec::request_timeout;
        auto code = timeout ? error_code::command_timeout
                            : error_code::telescope_unavailable;
        auto text = timeout ? std::string{"telescope did not answer in time"}
                            : "telescope '" + telescope
                                + "' went away: " + self->system().render(err);
        if (expected) write_failure(self, id, code, text);
        record_outcome(self, telescope, id, action, params, &code, text);
      });
}

// -- frames
// ---------------------------------------------------------------------

void on_frame(session_ptr self, const std::string& text) {
  auto& st = self->state;
  st.last_seen = self->clock().now();
  if (st.closing) return;
  if (!take_token(self, &text)) return;
  auto msg = protocol::parse_client_message(text, st.cfg.parse);
  if (!msg) {
    const auto& err = msg.error();
    spdlog::debug("session {}: {} {} ({:.64})", st.cfg.id,
                  protocol::to_string(err.code), err.message, text);
    auto id = next_id(self);
    write(self, protocol::make_error({id, wall_ms()}, err), message_out::error);
    metrics::count_message(metrics::message_in::invalid);
    return;
  }
  auto& env = msg->env;
  std::visit(
    [&](auto& payload) {
      using T = std::decay_t<decltype(payload)>;
      using metrics::message_in;
      if constexpr (std::is_same_v<T, protocol::control_command>) {
        metrics::count_message(message_in::control_command);
        on_command(self, env, payload);
      } else if constexpr (std::is_same_v<T, protocol::subscribe>) {
        metrics::count_message(message_in::subscribe);
        on_subscribe(self, env, payload, true);
      } else if constexpr (std::is_same_v<T, protocol::unsubscribe>) {
        metrics::count_message(message_in::unsubscribe);
        on_subscribe(self, env, payload, false);
      } else {
        // a client heartbeat only counts as liveness
        metrics::count_message(message_in::heartbeat);
      }
    },
    msg->payload);
}

/// With delta_updates off: merges a status frame into the topic's full
/// state kept by the session and returns it as a full update (same id,
/// seq, epoch and changes). Returns an empty string for a frame it cannot
/// read (then the frame goes out as it is).
std::string as_full_update(session_ptr self, const std::string& frame) {
  rapidjson::Document doc;
  doc.Parse(frame.data(), frame.size());
  if (doc.HasParseError() || !doc.IsObject()) return {};
  auto p = doc.FindMember("payload");
  if (p == doc.MemberEnd() || !p->value.IsObject()) return {};
  auto& payload = p->value;
  auto cat_m = payload.FindMember("category");
  auto status = payload.FindMember("status");
  if (cat_m == payload.MemberEnd() || !cat_m->value.IsString()
      || status == payload.MemberEnd() || !status->value.IsObject()
      || !doc["telescope_id"].IsString() || !payload["seq"].IsUint64()
      || !payload["epoch"].IsString() || !doc["id"].IsString())
    return {};
  auto cat = protocol::category_from_string(cat_m->value.GetString());
  if (!cat) return {};
  std::string epoch = payload["epoch"].GetString();
  auto key = std::string{doc["telescope_id"].GetString()} + "/"
             + cat_m->value.GetString();
  auto& state = self->state.full_state[key];
  auto full = payload.FindMember("full_update");
  bool replace = !state.IsObject()
                 || (full != payload.MemberEnd() && full->value.IsTrue())
                 || !state.HasMember("\x01"
                                     "epoch")
                 || epoch
                      != state["\x01"
                               "epoch"]
                           .GetString();
  if (replace) {
    state.SetObject();
    state.AddMember("\x01"
                    "epoch",
                    rapidjson::Value{epoch.c_str(), state.GetAllocator()},
                    state.GetAllocator());
  }
  protocol::merge(state, status->value);
  // The epoch marker rides in the state object; build without it.
  rapidjson::Document fields{rapidjson::kObjectType};
  for (auto& m : state.GetObject())
    if (m.name.GetString()[0] != '\x01')
      fields.AddMember(rapidjson::Value{m.name, fields.GetAllocator()},
                       rapidjson::Value{m.value, fields.GetAllocator()},
                       fields.GetAllocator());
  std::vector<std::string> changes;
  if (auto c = payload.FindMember("changes");
      c != payload.MemberEnd() && c->value.IsArray())
    for (auto& x : c->value.GetArray())
      if (x.IsString()) changes.emplace_back(x.GetString());
  int64_t ts = doc.HasMember("timestamp") && doc["timestamp"].IsInt64()
                 ? doc["timestamp"].GetInt64()
                 : wall_ms();
  protocol::stamp stamp{doc["id"].GetString(), ts,
                        doc["telescope_id"].GetString()};
  return protocol::make_status_update(stamp, *cat, payload["seq"].GetUint64(),
                                      epoch, fields, changes, true);
}

/// Writes a frame a topic delivered without copying it: the pipe's
/// shared pointer aliases the string inside the shared CAF message.
void on_deliver(session_ptr self, int64_t published_ns) {
  auto& st = self->state;
  if (published_ns > 0) {
    st.lag_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::steady_clock::now().time_since_epoch())
                  .count()
                - published_ns;
    if (features::enabled(features::flag::performance_metrics))
      metrics::observe_fanout(st.lag_ns);
  }
  metrics::count_out(message_out::status_update);
  auto holder = std::make_shared<caf::message>(
    self->current_mailbox_element()->copy_content_to_message());
  const caf::message& msg = *holder;
  std::shared_ptr<const std::string> frame{holder, &msg.get_as<std::string>(1)};
  if (!st.cfg.delta_updates) {
    if (auto full = as_full_update(self, *frame); !full.empty()) {
      st.out.send_status(std::make_shared<const std::string>(std::move(full)));
      return;
    }
  }
  st.out.send_status(std::move(frame));
}

/// This session as /api/sessions shows it (JSON object).
std::string stats_json(session_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  auto pipe = st.pipe.lock();
  return protocol::json_text([&](auto& w) {
    auto str = [&w](const char* k, const std::string& v) {
      w.Key(k);
      w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    };
    auto num = [&w](const char* k, uint64_t v) {
      w.Key(k);
      w.Uint64(v);
    };
    w.StartObject();
    str("id", st.cfg.id);
    str("transport", metrics::to_string(st.cfg.transport));
    str("identity", st.cfg.identity);
    str("role", st.cfg.role);
    str("peer", st.cfg.peer);
    if (!st.cfg.bound_telescope.empty())
      str("bound_telescope", st.cfg.bound_telescope);
    w.Key("subscriptions");
    auto subs = subscriptions_json(self);
    rapidjson::Document d;
    d.Parse(subs.data(), subs.size());
    d["subscriptions"].Accept(w);
    num("backlog_bytes", st.out.backlog());
    num("backlog_max_bytes", st.out.backlog_max());
    num("queued_bytes", pipe ? pipe->queued_bytes() : 0);
    num("held_topics", st.out.held());
    w.Key("lag_ms");
    if (st.lag_ns < 0)
      w.Null();
    else
      w.Double(static_cast<double>(st.lag_ns) / 1e6);
    num("conflated", st.out.conflated_total());
    num("dropped", st.out.dropped_total());
    num("rate_limited", st.rate_limited_total);
    num("pending_commands", st.in_flight.size());
    num("frames_sent", st.frames_sent);
    w.Key("age_s");
    w.Double(std::chrono::duration<double>(now - st.started).count());
    w.EndObject();
  });
}

/// Tells the pipe one client message is done with, so it reads on.
void consumed(session_ptr self) {
  if (auto pipe = self->state.pipe.lock()) pipe->consumed(1);
}

void on_fleet(session_ptr self, telescope_entry& entry,
              const std::string& frame) {
  auto& st = self->state;
  auto id = entry.info.id;
  if (!allowed(self, id)) return; // out of this token's scope: unseen
  metrics::count_out(frame.find("\"type\":\"telescope_lost\"")
                         != std::string::npos
                       ? message_out::telescope_lost
                       : message_out::telescope_discovered);
  st.out.send(std::make_shared<const std::string>(frame));
  auto old = st.known.find(id);
  bool new_topics = old == st.known.end() || old->second.topics != entry.topics;
  if (new_topics) {
    // Re-created topics: the old subscriptions are gone with them.
    for (auto cat : protocol::all_categories)
      st.active.erase({id, cat});
  }
  st.known[id] = std::move(entry);
  sync_topics(self, id);
}

void on_tick(session_ptr self) {
  auto& st = self->state;
  if (st.closing) return;
  auto now = self->clock().now();
  if (now - st.last_seen >= st.cfg.stale_after) {
    close_session(self, protocol::close_code::heartbeat_timeout,
                  "heartbeat timeout");
    return;
  }
  if (now - st.last_heartbeat >= st.cfg.heartbeat_interval)
    write_heartbeat(self, false);
}

caf::behavior open_behavior(session_ptr self) {
  return {
    [self](ws_frame_atom, const std::string& text) {
      on_frame(self, text);
      consumed(self);
    },
    [self](ws_binary_atom, uint64_t) {
      self->state.last_seen = self->clock().now();
      consumed(self);
      if (self->state.closing || !take_token(self, nullptr)) return;
      metrics::count_message(metrics::message_in::invalid);
      write_error(self, error_code::unsupported_frame,
                  "binary frames are not supported: send JSON text",
                  std::nullopt);
    },
    [self](alive_atom) { self->state.last_seen = self->clock().now(); },
    [self](drained_atom, uint64_t bytes) { self->state.out.drained(bytes); },
    [self](closed_atom, uint16_t code, const std::string& reason) {
      const auto& out = self->state.out;
      metrics::count_close(code);
      if (auto& l = self->state.cfg.close_listener) {
        auto x = protocol::json_text([&](auto& w) {
          w.StartObject();
          w.Key("session");
          w.String(self->state.cfg.id.c_str());
          w.Key("identity");
          w.String(self->state.cfg.identity.c_str());
          w.Key("peer");
          w.String(self->state.cfg.peer.c_str());
          w.Key("code");
          w.Uint(code);
          w.Key("reason");
          w.String(reason.data(),
                   static_cast<rapidjson::SizeType>(reason.size()));
          w.Key("time");
          w.Int64(wall_ms());
          w.EndObject();
        });
        self->send(l, stats_atom_v, std::move(x));
      }
      spdlog::info("session {} ({}): closed {} {} (backlog max {} B, {} "
                   "status updates conflated, {} rate-limited)",
                   self->state.cfg.id, self->state.cfg.peer, code, reason,
                   out.backlog_max(), out.conflated_total(),
                   self->state.rate_limited_total);
      self->quit();
    },
    [self](deliver_atom, const std::string&, int64_t published_ns) {
      on_deliver(self, published_ns);
    },
    [self](fleet_atom, telescope_entry& entry, const std::string& frame) {
      on_fleet(self, entry, frame);
    },
    [self](progress_atom, const std::string& id, const std::string& state,
           const std::string& detail) {
      auto frame_id = next_id(self);
      write(self,
            protocol::make_command_progress(
              {frame_id, wall_ms()}, id,
              state == "working" ? protocol::progress_state::working
                                 : protocol::progress_state::accepted,
              detail == "{}" ? std::string{} : detail),
            message_out::command_progress);
    },
    [self](heartbeat_atom) { on_tick(self); },
    [self](caf::close_atom, uint16_t code, const std::string& reason) {
      close_session(self, static_cast<protocol::close_code>(code), reason);
    },
    [self](caf::get_atom) {
      return static_cast<uint64_t>(self->state.active.size());
    },
    [self](stats_atom) { return stats_json(self); },
  };
}

} // namespace

session_state::~session_state() {
  if (auto p = pipe.lock()) p->close(1011, "session ended");
  metrics::count_session(cfg.transport, -1);
  metrics::add_backlog(-static_cast<int64_t>(out.backlog()), 0);
  metrics::global().status_conflated.fetch_add(out.conflated_total(),
                                               std::memory_order_relaxed);
  metrics::global().status_dropped.fetch_add(out.dropped_total(),
                                             std::memory_order_relaxed);
}

caf::behavior session_actor(session_ptr self, session_config cfg,
                            std::weak_ptr<net::ws_pipe> pipe,
                            caf::actor directory, caf::actor supervisor) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  if (st.cfg.identity.empty()) st.cfg.identity = st.cfg.id;
  st.pipe = std::move(pipe);
  st.out = outbound{st.pipe, st.cfg.backlog_soft_limit};
  metrics::count_session(st.cfg.transport, +1);
  st.started = self->clock().now();
  st.directory = std::move(directory);
  st.supervisor = std::move(supervisor);
  st.last_seen = self->clock().now();
  st.rate_tokens = static_cast<double>(st.cfg.message_burst);
  st.rate_refill = st.last_seen;
  spdlog::info("session {} ({}): open, identity {}, role {}{}", st.cfg.id,
               st.cfg.peer, st.cfg.identity, st.cfg.role,
               st.cfg.bound_telescope.empty()
                 ? std::string{}
                 : ", bound to " + st.cfg.bound_telescope);
  write_heartbeat(self, true);
  if (st.supervisor)
    self->send(st.supervisor, caf::join_atom_v, caf::actor{self});
  // Client frames wait until the fleet list is written (await), so the
  // discovered frames always follow the first heartbeat.
  self
    ->request(st.directory, std::chrono::seconds{10}, caf::subscribe_atom_v,
              caf::actor{self})
    .await(
      [self](std::vector<telescope_entry>& entries,
             std::vector<std::string>& frames) {
        auto& st = self->state;
        for (size_t i = 0; i < frames.size(); ++i)
          if (i >= entries.size() || allowed(self, entries[i].info.id))
            write(self, std::move(frames[i]),
                  message_out::telescope_discovered);
        for (auto& e : entries) {
          auto id = e.info.id;
          if (allowed(self, id)) st.known[id] = std::move(e);
        }
        if (!st.cfg.bound_telescope.empty()) {
          subscription sub;
          sub.kind = subscription::one;
          sub.target = st.cfg.bound_telescope;
          sub.categories.insert(protocol::all_categories.begin(),
                                protocol::all_categories.end());
          st.subs[key_of(sub)] = sub;
          sync_topics(self, st.cfg.bound_telescope, st.cfg.resume);
        }
      },
      [self](caf::error& err) {
        spdlog::error("session {}: directory did not answer: {}",
                      self->state.cfg.id, self->system().render(err));
        close_session(self, protocol::close_code::try_again_later,
                      "server busy");
      });
  return open_behavior(self);
}

} // namespace scopehub

#include "actors/session.hpp"
#include "actors/session_detail.hpp"

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

namespace session_detail {

using metrics::message_out;
using protocol::error_code;
using std::chrono::milliseconds;

int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Id of the next server message of this session ("s17-5").
std::string next_id(session_ptr self) {
  return self->state.cfg.id + "-" + std::to_string(++self->state.frames_sent);
}

void write(session_ptr self, std::string frame, message_out kind) {
  metrics::count_out(kind);
  self->state.out.send(std::make_shared<const std::string>(std::move(frame)));
}

void write_error(session_ptr self, error_code code, const std::string& text,
                 std::optional<std::string_view> ref, bool subscription_kept) {
  auto id = next_id(self);
  write(
    self,
    protocol::make_error({id, wall_ms()}, code, text, ref, subscription_kept),
    message_out::error);
}

/// True when the session's token may see and command `telescope`.
bool allowed(session_ptr self, const std::string& telescope) {
  return auth::telescope_allowed(self->state.cfg.telescopes, telescope);
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

} // namespace session_detail

namespace {

using namespace session_detail;
using protocol::category;

/// Topics answer a subscribe at once; this only bounds a dead one.
constexpr std::chrono::seconds topic_timeout{10};

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
    // Counted before the answer leaves: a client that reads the error and
    // then scrapes /metrics must find the frame counted.
    metrics::count_message(metrics::message_in::invalid);
    auto id = next_id(self);
    write(self, protocol::make_error({id, wall_ms()}, err), message_out::error);
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
  // No answer comes from a telescope actor that is gone.
  if (!entry.telescope)
    fail_commands_to(
      self, id, entry.info.reason.empty() ? "actor down" : entry.info.reason);
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
    [self](deadline_atom, uint64_t generation) {
      on_command_deadline(self, generation);
    },
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

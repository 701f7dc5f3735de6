#include "apps/scopehub/http_api.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "actors/auth.hpp"
#include "actors/features.hpp"
#include "actors/messages.hpp"
#include "actors/metrics.hpp"
#include "caf/all.hpp"
#include "protocol/json_read.hpp"
#include "protocol/json_text.hpp"

namespace scopehub::app {

namespace {

using namespace std::chrono_literals;
using protocol::error_code;

/// How long an adapter waits for an actor that answers at once.
constexpr auto ask_timeout = 5s;

net::http_answer answer(unsigned status, std::string body) {
  net::http_answer a;
  a.status = status;
  a.body = std::move(body);
  return a;
}

net::http_answer failure(unsigned status, const char* code,
                         const std::string& message) {
  return answer(status, error_json(code, message));
}

std::string to_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

template<class Writer>
void write_info(Writer& w, const telescope_info& x) {
  auto str = [&w](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
  };
  w.StartObject();
  str("id", x.id);
  str("name", x.name);
  str("model", x.model);
  str("host", x.host);
  w.Key("port");
  w.Uint(x.port);
  str("node", x.node);
  str("state", x.online ? "online" : "offline");
  if (!x.online && !x.reason.empty()) str("reason", x.reason);
  w.EndObject();
}

// -- GET /api/telescopes
// --------------------------------------------------------

caf::behavior list_probe(caf::event_based_actor* self, caf::actor directory,
                         std::vector<std::string> scope,
                         net::http_reply reply) {
  self->request(directory, ask_timeout, list_atom_v)
    .then(
      [=](std::vector<telescope_info>& infos) {
        reply(answer(200, protocol::json_text([&](auto& w) {
                       w.StartArray();
                       for (auto& x : infos)
                         if (auth::telescope_allowed(scope, x.id))
                           write_info(w, x);
                       w.EndArray();
                     })));
        self->quit();
      },
      [=](caf::error&) {
        reply(failure(503, "OVERLOADED", "the directory did not answer"));
        self->quit();
      });
  return {};
}

// -- GET /api/telescopes/{id}
// ---------------------------------------------------

struct snapshot_state {
  telescope_info info;
  std::vector<caf::actor> topics;
  size_t pending = 0;
  /// The full snapshot frame of each category that has state.
  std::map<std::string, std::string> frames;
  net::http_reply reply;
};

using snapshot_ptr = caf::stateful_actor<snapshot_state>*;

void send_snapshot(snapshot_ptr self) {
  auto& st = self->state;
  for (auto& t : st.topics)
    self->send(t, caf::unsubscribe_atom_v, caf::actor{self});
  auto body = protocol::json_text([&](auto& w) {
    w.StartObject();
    w.Key("telescope");
    write_info(w, st.info);
    w.Key("status");
    w.StartObject();
    for (auto& [cat, frame] : st.frames) {
      rapidjson::Document d;
      d.Parse(frame.data(), frame.size());
      if (d.HasParseError() || !d.IsObject() || !d.HasMember("payload"))
        continue;
      w.Key(cat.c_str());
      d["payload"].Accept(w);
    }
    w.EndObject();
    w.EndObject();
  });
  st.reply(answer(200, std::move(body)));
  self->quit();
}

caf::behavior snapshot_probe(snapshot_ptr self, caf::actor directory,
                             std::string id, net::http_reply reply) {
  self->state.reply = std::move(reply);
  self->request(directory, ask_timeout, lookup_atom_v, id)
    .then(
      [self](telescope_entry& e) {
        auto& st = self->state;
        st.info = std::move(e.info);
        st.topics = std::move(e.topics);
        st.pending = st.topics.size();
        if (st.pending == 0) return send_snapshot(self);
        // A topic sends its snapshot before it answers the subscribe: when
        // every answer is in, so is every snapshot.
        for (auto& t : st.topics) {
          auto done = [self] {
            if (--self->state.pending == 0) send_snapshot(self);
          };
          self
            ->request(t, ask_timeout, caf::subscribe_atom_v, caf::actor{self},
                      int64_t{-1})
            .then([done](uint64_t) { done(); },
                  [done](caf::error&) { done(); });
        }
      },
      [self, id](caf::error&) {
        self->state.reply(
          failure(404, "TELESCOPE_NOT_FOUND", "no telescope '" + id + "'"));
        self->quit();
      });
  return {
    [self](deliver_atom, const std::string& frame, int64_t) {
      rapidjson::Document d;
      d.Parse(frame.data(), frame.size());
      if (d.HasParseError() || !d.IsObject()) return;
      auto p = d.FindMember("payload");
      if (p == d.MemberEnd() || !p->value.IsObject()
          || !p->value.HasMember("category")
          || !p->value["category"].IsString())
        return;
      self->state.frames[p->value["category"].GetString()] = frame;
    },
  };
}

// -- POST /api/telescopes/{id}/commands
// -----------------------------------------

/// The pipe of a REST command's session: it waits for the one
/// command_response (or error) about its command, answers the HTTP
/// request with it, and ends the session. Used only from the session's
/// own handlers (one at a time), except bind() before the first message.
class capture_pipe final : public net::ws_pipe,
                           public std::enable_shared_from_this<capture_pipe> {
 public:
  capture_pipe(std::string command_id, std::string peer, net::http_reply reply)
    : command_id_(std::move(command_id)), peer_(std::move(peer)),
      reply_(std::move(reply)) {
    // nop
  }

  /// Starts: the pipe holds itself until its session is gone.
  void bind(caf::actor session) {
    session_ = std::move(session);
    self_ = shared_from_this();
  }

  void send(std::shared_ptr<const std::string> frame) override {
    if (!frame) return;
    if (session_)
      caf::anon_send(session_, drained_atom_v,
                     static_cast<uint64_t>(frame->size()));
    if (answered_) return;
    rapidjson::Document d;
    d.Parse(frame->data(), frame->size());
    if (d.HasParseError() || !d.IsObject() || !d.HasMember("type")
        || !d["type"].IsString() || !d.HasMember("payload")
        || !d["payload"].IsObject())
      return;
    std::string type = d["type"].GetString();
    const auto& p = d["payload"];
    if (type == "command_response") {
      if (!p.HasMember("command_id") || !p["command_id"].IsString()
          || command_id_ != p["command_id"].GetString())
        return;
      unsigned status = 200;
      if (p.HasMember("success") && p["success"].IsFalse()) {
        status = 500;
        if (p.HasMember("error_code") && p["error_code"].IsString())
          if (auto c
              = protocol::error_code_from_string(p["error_code"].GetString()))
            status = http_status_of(*c);
      }
      return finish(answer(status, to_text(p)));
    }
    if (type == "error") {
      // Errors about other messages (none here) name another ref_id.
      if (p.HasMember("ref_id") && p["ref_id"].IsString()
          && command_id_ != p["ref_id"].GetString())
        return;
      unsigned status = 400;
      if (p.HasMember("error_code") && p["error_code"].IsString())
        if (auto c
            = protocol::error_code_from_string(p["error_code"].GetString()))
          status = http_status_of(*c);
      return finish(answer(status, to_text(p)));
    }
  }

  void close(uint16_t code, std::string reason) override {
    if (!answered_) {
      answered_ = true;
      reply_(failure(code == 1001 ? 503 : 500,
                     code == 1001 ? "OVERLOADED" : "INTERNAL",
                     "the command's session ended: " + reason));
    }
    if (session_ && !closed_told_) {
      closed_told_ = true;
      caf::anon_send(session_, closed_atom_v, code, std::move(reason));
    }
    session_ = caf::actor{};
    self_.reset(); // may destroy this: nothing after it
  }

  void consumed(size_t) override {
    // One message, sent by the adapter: nothing to pace.
  }

  size_t queued_bytes() const override { return 0; }

  const std::string& peer() const override { return peer_; }

  uint64_t id() const override { return 0; }

 private:
  void finish(net::http_answer a) {
    answered_ = true;
    reply_(std::move(a));
    if (session_ && !closed_told_) {
      closed_told_ = true;
      caf::anon_send(session_, closed_atom_v, uint16_t{1000},
                     std::string{"answered"});
    }
  }

  std::string command_id_;
  std::string peer_;
  net::http_reply reply_;
  caf::actor session_;
  std::shared_ptr<capture_pipe> self_;
  bool answered_ = false;
  bool closed_told_ = false;
};

/// The client frame of a REST command: `{"id"?, "action", "parameters",
/// "timeout_ms"?, ...}` becomes the payload of a control_command for
/// `telescope`. Fills `id` (body id, Idempotency-Key, or `fallback`).
std::optional<net::http_answer> command_frame(const net::api_request& req,
                                              const std::string& fallback,
                                              std::string& id,
                                              std::string& frame) {
  rapidjson::Document body;
  if (auto bad = protocol::read_json_object(
        reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size(),
        body))
    return failure(400, "INVALID_JSON", "body: " + bad->message);
  std::string key;
  if (auto h = req.who.headers.find("idempotency-key");
      h != req.who.headers.end())
    key = h->second;
  if (auto i = body.FindMember("id"); i != body.MemberEnd()) {
    if (!i->value.IsString())
      return failure(400, "INVALID_MESSAGE", "id: must be a string");
    id = i->value.GetString();
    if (!key.empty() && key != id)
      return failure(400, "INVALID_MESSAGE",
                     "the body's id and the Idempotency-Key header differ");
    body.RemoveMember(i);
  } else {
    id = key.empty() ? fallback : key;
  }
  if (auto a = body.FindMember("action");
      a != body.MemberEnd() && a->value.IsString()) {
    std::string action = a->value.GetString();
    if (action == "acquire_control" || action == "release_control"
        || action == "cancel")
      return failure(400, "INVALID_PARAMETERS",
                     action
                       + " needs a WebSocket session: a REST command's "
                         "session ends with its answer");
  }
  frame = protocol::json_text([&](auto& w) {
    w.StartObject();
    w.Key("id");
    w.String(id.data(), static_cast<rapidjson::SizeType>(id.size()));
    w.Key("type");
    w.String("control_command");
    w.Key("telescope_id");
    w.String(req.who.telescope_id.data(),
             static_cast<rapidjson::SizeType>(req.who.telescope_id.size()));
    w.Key("payload");
    body.Accept(w);
    w.EndObject();
  });
  return std::nullopt;
}

/// Asks the gate, then starts the command's session (or answers 429).
caf::behavior command_probe(caf::event_based_actor* self, api_context ctx,
                            session_config cfg,
                            std::shared_ptr<capture_pipe> pipe,
                            std::string frame, net::http_reply reply) {
  auto start = [=] {
    auto session = self->system().spawn(session_actor, cfg,
                                        std::weak_ptr<net::ws_pipe>{pipe},
                                        ctx.directory, ctx.supervisor);
    pipe->bind(session);
    // The session holds client frames until it has the fleet list.
    caf::anon_send(session, ws_frame_atom_v, frame);
    self->quit();
  };
  if (!ctx.gate) {
    start();
    return {};
  }
  self->request(ctx.gate, ask_timeout, rate_atom_v, cfg.identity)
    .then(
      [=](bool ok) {
        if (ok) return start();
        metrics::global().rate_limited.fetch_add(1, std::memory_order_relaxed);
        char text[128];
        std::snprintf(text, sizeof(text),
                      "over the message budget (%g/s, burst %zu): not executed",
                      cfg.message_rate, cfg.message_burst);
        reply(failure(429, "RATE_LIMITED", text));
        self->quit();
      },
      [=](caf::error&) {
        reply(failure(503, "OVERLOADED", "the rate gate did not answer"));
        self->quit();
      });
  return {};
}

void run_command(const api_context& ctx, const grant& g, net::api_request req,
                 net::http_reply reply) {
  static std::atomic<uint64_t> counter{0};
  auto fallback = "http-" + std::to_string(++counter);
  std::string id;
  std::string frame;
  if (auto refused = command_frame(req, fallback, id, frame))
    return reply(std::move(*refused));
  auto cfg = ctx.session_config_for(g, req.who);
  cfg.transport = metrics::transport::http;
  cfg.bound_telescope.clear(); // the command names it; no subscriptions
  cfg.stale_after = ctx.command_wait;
  cfg.heartbeat_interval = ctx.command_wait;
  if (cfg.identity.empty()) cfg.identity = "http:" + req.who.peer;
  auto pipe = std::make_shared<capture_pipe>(id, req.who.peer, reply);
  ctx.sys->spawn(command_probe, ctx, std::move(cfg), std::move(pipe),
                 std::move(frame), std::move(reply));
}

// -- GET /api/sessions
// ------------------------------------------------------------

struct sessions_state {
  std::vector<std::string> stats;
  std::vector<std::string> closes;
  size_t pending = 0;
  net::http_reply reply;
};

using sessions_ptr = caf::stateful_actor<sessions_state>*;

void send_sessions(sessions_ptr self) {
  auto& st = self->state;
  std::string body = "{\"sessions\":[";
  for (size_t i = 0; i < st.stats.size(); ++i) {
    if (i > 0) body += ',';
    body += st.stats[i];
  }
  body += "],\"recent_closes\":[";
  for (size_t i = 0; i < st.closes.size(); ++i) {
    if (i > 0) body += ',';
    body += st.closes[i];
  }
  body += "]}";
  st.reply(answer(200, std::move(body)));
  self->quit();
}

caf::behavior sessions_probe(sessions_ptr self, caf::actor supervisor,
                             net::http_reply reply) {
  self->state.reply = std::move(reply);
  self->request(supervisor, ask_timeout, stats_atom_v)
    .then(
      [self](std::vector<caf::actor>& sessions,
             std::vector<std::string>& closes) {
        auto& st = self->state;
        st.closes = std::move(closes);
        st.pending = sessions.size();
        if (st.pending == 0) return send_sessions(self);
        for (auto& s : sessions) {
          // A session that ends meanwhile is left out.
          self->request(s, 2s, stats_atom_v)
            .then(
              [self](std::string& x) {
                self->state.stats.push_back(std::move(x));
                if (--self->state.pending == 0) send_sessions(self);
              },
              [self](caf::error&) {
                if (--self->state.pending == 0) send_sessions(self);
              });
        }
      },
      [self](caf::error&) {
        self->state.reply(
          failure(503, "OVERLOADED", "the supervisor did not answer"));
        self->quit();
      });
  return {};
}

// -- /api/features
// ------------------------------------------------------------------

net::http_answer features_answer() {
  return answer(200, "{\"features\":" + features::to_json() + "}");
}

net::http_answer put_features(const grant& g, const net::api_request& req) {
  if (g.role != "admin")
    return failure(403, "FORBIDDEN",
                   "changing feature flags needs the admin "
                   "role");
  rapidjson::Document body;
  if (auto bad = protocol::read_json_object(
        reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size(),
        body))
    return failure(400, "INVALID_JSON", "body: " + bad->message);
  // {"name": "...", "enabled": bool} or {"<name>": bool, ...}
  std::vector<std::pair<features::flag, bool>> changes;
  auto add = [&](const std::string& name,
                 const rapidjson::Value& v) -> std::optional<net::http_answer> {
    auto f = features::flag_from_string(name);
    if (!f)
      return failure(400, "INVALID_PARAMETERS",
                     "unknown feature '" + name + "'");
    if (!v.IsBool())
      return failure(400, "INVALID_PARAMETERS",
                     name + ": must be true or false");
    changes.emplace_back(*f, v.GetBool());
    return std::nullopt;
  };
  if (body.HasMember("name")) {
    if (!body["name"].IsString() || !body.HasMember("enabled"))
      return failure(400, "INVALID_PARAMETERS",
                     "body must be {\"name\": \"<feature>\", \"enabled\": "
                     "true|false}");
    if (auto bad = add(body["name"].GetString(), body["enabled"])) return *bad;
  } else {
    for (auto& m : body.GetObject())
      if (auto bad = add(m.name.GetString(), m.value)) return *bad;
  }
  if (changes.empty())
    return failure(400, "INVALID_PARAMETERS", "no feature named");
  for (auto& [f, on] : changes)
    features::set(f, on, g.identity.empty() ? "anonymous" : g.identity,
                  req.who.peer, "http");
  return features_answer();
}

} // namespace

caf::behavior rest_gate(caf::event_based_actor* self, double rate,
                        size_t burst) {
  struct bucket {
    double tokens;
    caf::actor_clock::time_point refill;
  };
  auto buckets = std::make_shared<std::map<std::string, bucket>>();
  return {
    [=](rate_atom, const std::string& key) {
      auto now = self->clock().now();
      const auto cap = static_cast<double>(burst);
      auto [i, fresh] = buckets->try_emplace(key, bucket{cap, now});
      auto& b = i->second;
      if (!fresh) {
        std::chrono::duration<double> dt = now - b.refill;
        b.tokens = std::min(cap, b.tokens + dt.count() * rate);
        b.refill = now;
      }
      // Forget clients whose bucket has refilled: memory stays bounded
      // by the clients of the last burst / rate seconds.
      if (buckets->size() > 1024)
        for (auto j = buckets->begin(); j != buckets->end();) {
          std::chrono::duration<double> idle = now - j->second.refill;
          if (j != i && j->second.tokens + idle.count() * rate >= cap)
            j = buckets->erase(j);
          else
            ++j;
        }
      if (b.tokens < 1.0) return false;
      b.tokens -= 1.0;
      return true;
    },
  };
}

unsigned http_status_of(error_code code) noexcept {
  switch (code) {
    case error_code::unauthorized: return 401;
    case error_code::forbidden: return 403;
    case error_code::telescope_not_found: return 404;
    case error_code::control_held:
    case error_code::telescope_busy:
    case error_code::command_cancelled: return 409;
    case error_code::rate_limited: return 429;
    case error_code::telescope_unavailable:
    case error_code::overloaded: return 503;
    case error_code::command_timeout: return 504;
    case error_code::internal: return 500;
    case error_code::device_error: return 502; // the telescope refused
    default: return 400;                       // the invalid-input codes
  }
}

void handle_api(const api_context& ctx, net::api_request req,
                net::http_reply reply) {
  auto g = std::static_pointer_cast<const grant>(req.who.grant);
  if (!g) return reply(failure(403, "FORBIDDEN", "not authorized"));
  const auto& path = req.who.path;
  const auto& tid = req.who.telescope_id;
  if (path == "/api/features") {
    if (req.method == "PUT") return reply(put_features(*g, req));
    return reply(features_answer());
  }
  if (path == "/api/sessions") {
    if (g->role != "admin")
      return reply(failure(403, "FORBIDDEN",
                           "/api/sessions needs the admin "
                           "role"));
    ctx.sys->spawn(sessions_probe, ctx.supervisor, std::move(reply));
    return;
  }
  if (tid.empty()) {
    ctx.sys->spawn(list_probe, ctx.directory, g->telescopes, std::move(reply));
    return;
  }
  if (!auth::telescope_allowed(g->telescopes, tid))
    return reply(
      failure(403, "FORBIDDEN", "this token may not see telescope " + tid));
  if (req.method == "POST")
    return run_command(ctx, *g, std::move(req), std::move(reply));
  ctx.sys->spawn(snapshot_probe, ctx.directory, tid, std::move(reply));
}

} // namespace scopehub::app

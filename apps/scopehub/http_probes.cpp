// One-shot actors behind the HTTP hooks of the server (net/http_hooks):
// each answers one request from an Asio thread by asking an actor
// (admission, web session store, directory) and calling the reply.
// Spawning one per request keeps Asio free of waiting; they are rare.

#include "apps/scopehub/http_probes.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "actors/admission.hpp"
#include "actors/audit.hpp"
#include "actors/metrics.hpp"
#include "caf/all.hpp"
#include "protocol/json_text.hpp"

namespace scopehub::app {

std::string error_json(const char* code, const std::string& message) {
  // Messages may quote JSON or carry ids from clients: escape them.
  return protocol::json_text([&](auto& w) {
    w.StartObject();
    w.Key("error_code");
    w.String(code);
    w.Key("message");
    w.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
    w.EndObject();
  });
}

static void admit(caf::event_based_actor* self, caf::actor admission,
                  std::string address, std::shared_ptr<grant> g,
                  net::authorize_reply reply);

/// A one-shot actor for one upgrade: resolves a session cookie (when
/// `cookie` is set) in the web session store, then asks the admission
/// actor for a place (the connection caps) and answers the listener.
caf::behavior admit_probe(caf::event_based_actor* self, caf::actor admission,
                          std::string address, std::shared_ptr<grant> g,
                          net::authorize_reply reply, caf::actor store,
                          std::string cookie, std::string bound) {
  if (cookie.empty()) {
    admit(self, admission, address, g, reply);
    return {};
  }
  self->request(store, std::chrono::seconds{2}, caf::get_atom_v, cookie)
    .then(
      [=](bool found, const std::string& label, const std::string& role,
          const std::vector<std::string>& telescopes) {
        net::authorization out;
        if (!found) {
          spdlog::warn("auth failure: unknown or expired session cookie from "
                       "{}",
                       address);
          audit::auth_failure(address, "/api/ws", "invalid_cookie",
                              "unknown or expired session cookie");
          out.status = 401;
          out.body
            = error_json("UNAUTHORIZED", "session expired or revoked: POST "
                                         "/api/session again");
        } else if (!bound.empty()
                   && !auth::telescope_allowed(telescopes, bound)) {
          out.status = 403;
          out.body = error_json("FORBIDDEN",
                                "this session may not see telescope " + bound);
        }
        if (out.status != 0) {
          reply(std::move(out));
          self->quit();
          return;
        }
        g->role = role;
        g->identity = "token:" + label;
        g->telescopes = telescopes;
        admit(self, admission, address, g, reply);
      },
      [=](caf::error&) {
        net::authorization out;
        out.status = 503;
        out.body = error_json("OVERLOADED", "session store did not answer");
        reply(std::move(out));
        self->quit();
      });
  return {};
}

/// Asks `admission` for a place for `address`, answers, quits.
static void admit(caf::event_based_actor* self, caf::actor admission,
                  std::string address, std::shared_ptr<grant> g,
                  net::authorize_reply reply) {
  self->request(admission, std::chrono::seconds{2}, caf::put_atom_v, address)
    .then(
      [=](uint8_t verdict) {
        net::authorization out;
        switch (static_cast<admission_verdict>(verdict)) {
          case admission_verdict::admitted:
            g->ticket = make_admission_ticket(admission, address);
            out.grant = g;
            break;
          case admission_verdict::server_full:
            spdlog::warn("refused upgrade from {}: too many connections",
                         address);
            out.status = 503;
            out.body = error_json("OVERLOADED", "too many connections");
            break;
          case admission_verdict::address_full:
            spdlog::warn("refused upgrade from {}: too many connections from "
                         "this address",
                         address);
            out.status = 503;
            out.body = error_json("OVERLOADED",
                                  "too many connections from " + address);
            break;
        }
        reply(std::move(out));
        self->quit();
      },
      [=](caf::error&) {
        net::authorization out;
        out.status = 503;
        out.body = error_json("OVERLOADED", "admission did not answer");
        reply(std::move(out));
        self->quit();
      });
}

/// A one-shot actor for POST /api/session (`token` already checked):
/// stores a web session and answers with its cookie.
caf::behavior login_probe(caf::event_based_actor* self, caf::actor store,
                          auth::token_entry entry, int64_t ttl_ms,
                          net::http_reply reply) {
  self
    ->request(store, std::chrono::seconds{2}, caf::put_atom_v, entry.label,
              entry.role, entry.telescopes, ttl_ms)
    .then(
      [=](const std::string& id) {
        net::http_answer out;
        if (id.empty()) {
          out.status = 503;
          out.body = error_json("OVERLOADED", "no session id available");
        } else {
          auto ttl_s = std::to_string(ttl_ms / 1000);
          out.status = 200;
          out.body = "{\"role\":\"" + entry.role + "\",\"label\":\""
                     + entry.label + "\",\"expires_in_s\":" + ttl_s + "}";
          out.set_cookie = std::string{cookie_name} + "=" + id
                           + "; Path=/api; HttpOnly; SameSite=Strict; "
                             "Max-Age="
                           + ttl_s;
          spdlog::info("web session created for {} ({})", entry.label,
                       entry.role);
        }
        reply(std::move(out));
        self->quit();
      },
      [=](caf::error&) {
        net::http_answer out;
        out.status = 503;
        out.body = error_json("OVERLOADED", "session store did not answer");
        reply(std::move(out));
        self->quit();
      });
  return {};
}

/// A one-shot actor for DELETE /api/session: revokes the cookie's session.
caf::behavior logout_probe(caf::event_based_actor* self, caf::actor store,
                           std::string id, net::http_reply reply) {
  self->request(store, std::chrono::seconds{2}, caf::delete_atom_v, id)
    .then(
      [=](bool existed) {
        net::http_answer out;
        out.status = 200;
        out.body = existed ? R"({"revoked":true})" : R"({"revoked":false})";
        out.set_cookie = std::string{cookie_name}
                         + "=; Path=/api; HttpOnly; SameSite=Strict; "
                           "Max-Age=0";
        reply(std::move(out));
        self->quit();
      },
      [=](caf::error&) {
        net::http_answer out;
        out.status = 503;
        out.body = error_json("OVERLOADED", "session store did not answer");
        reply(std::move(out));
        self->quit();
      });
  return {};
}

/// A one-shot actor answering `GET /api/ws/health` from the directory's
/// numbers (spawned per request: health is rare and must not block Asio).
caf::behavior health_probe(caf::event_based_actor* self, caf::actor directory,
                           net::health_reply reply,
                           std::shared_ptr<const net::net_counters> counters,
                           std::chrono::steady_clock::time_point started) {
  self->request(directory, std::chrono::seconds{2}, caf::get_atom_v)
    .then(
      [=](uint64_t total, uint64_t online, uint64_t) {
        auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
        uint64_t conns = counters ? counters->websockets_open.load() : 0;
        reply(200, "{\"status\":\"ok\",\"uptime_s\":" + std::to_string(uptime)
                     + ",\"connections\":" + std::to_string(conns)
                     + ",\"telescopes\":{\"total\":" + std::to_string(total)
                     + ",\"online\":" + std::to_string(online)
                     + "},\"version\":\"" + SCOPEHUB_VERSION + "\"}");
        self->quit();
      },
      [=](caf::error&) {
        reply(503, R"({"status":"unavailable"})");
        self->quit();
      });
  return {};
}

caf::behavior metrics_probe(caf::event_based_actor* self, caf::actor directory,
                            net::health_reply reply,
                            std::shared_ptr<const net::net_counters> counters) {
  self->request(directory, std::chrono::seconds{2}, caf::get_atom_v)
    .then(
      [=](uint64_t total, uint64_t online, uint64_t) {
        metrics::telescope_counts scopes{total, online};
        reply(200, metrics::render(metrics::global(), counters.get(), scopes));
        self->quit();
      },
      [=](caf::error&) {
        reply(503, R"({"error_code":"OVERLOADED","message":"the directory )"
                   R"(did not answer"})");
        self->quit();
      });
  return {};
}

} // namespace scopehub::app

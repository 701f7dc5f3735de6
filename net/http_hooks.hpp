#pragma once

// net/http_hooks: what the listener asks of the application. The net/
// layer only moves bytes; the app decides what a WebSocket talks to
// (it spawns a session actor) and what health says.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "caf/actor.hpp"

namespace scopehub::net {

class ws_pipe;

/// What the listener learned from an upgrade request.
struct upgrade_info {
  /// Request path without the query, e.g. "/api/ws/seestar-001".
  std::string path;
  /// The `{telescope_id}` path segment; empty for `/api/ws`.
  std::string telescope_id;
  /// Raw query string without the '?', e.g. "token=abc&client_id=x".
  std::string query;
  /// Remote address as "ip:port".
  std::string peer;
  /// A few request headers, names in lower case: authorization, origin,
  /// cookie, user-agent, last-event-id, idempotency-key (absent ones are
  /// not in the map).
  std::map<std::string, std::string> headers;
  /// What http_hooks::authorize granted (app-defined, opaque to net/);
  /// null when there is no authorize hook.
  std::shared_ptr<const void> grant;
};

/// The app's verdict on an upgrade request.
struct authorization {
  /// 0 accepts the upgrade; otherwise the HTTP status (401, 403, 503...)
  /// of the refusal, answered with `body` (JSON) before any upgrade.
  unsigned status = 0;
  std::string body;
  /// Passed on as upgrade_info::grant when accepted.
  std::shared_ptr<const void> grant;
};

/// Completion of an authorize request. May be called from any thread,
/// at most once (later calls are ignored).
using authorize_reply = std::function<void(authorization)>;

/// Completion of a health request: (HTTP status, JSON body). May be
/// called from any thread, at most once (later calls are ignored).
using health_reply = std::function<void(unsigned, std::string)>;

/// A plain HTTP request passed to the app (`/api/session`).
struct http_request_info {
  std::string method; ///< "POST", "DELETE"
  std::string path;
  std::string body;
  /// Remote address as "ip:port".
  std::string peer;
  /// The same few headers as upgrade_info::headers.
  std::map<std::string, std::string> headers;
};

/// The app's answer to an http_request_info or api_request.
struct http_answer {
  unsigned status = 500;
  std::string body; ///< JSON, unless content_type says otherwise
  /// Value of a Set-Cookie header; empty: none.
  std::string set_cookie;
  /// Content-Type; empty means application/json.
  std::string content_type;
};

/// A REST request (`/api/telescopes...`, `/api/sessions`, `/api/features`)
/// that passed http_hooks::authorize: `who` carries the grant, the peer,
/// the forwarded headers, the query and the `{telescope_id}` segment.
struct api_request {
  std::string method; ///< "GET", "POST", "PUT"
  std::string body;
  upgrade_info who;
};

/// Completion of an app request. May be called from any thread, at most
/// once (later calls are ignored).
using http_reply = std::function<void(http_answer)>;

/// Callbacks the app gives to the listener. All run on an Asio thread
/// and must not block.
struct http_hooks {
  /// Called for every upgrade request before the WebSocket handshake,
  /// with a completion the app calls later, from any thread. Without an
  /// answer within listener_options::authorize_timeout the client gets
  /// 503. Without a hook every upgrade is accepted.
  std::function<void(const upgrade_info&, authorize_reply)> authorize;

  /// Called on the pipe's strand right after the WebSocket handshake.
  /// Returns the session actor that owns the pipe: the pipe keeps its
  /// handle and reports frames to it. The app should keep only a
  /// std::weak_ptr<ws_pipe>. Returning an invalid handle refuses the
  /// connection: the pipe closes with 1013 "too many connections".
  std::function<caf::actor(std::shared_ptr<ws_pipe>, const upgrade_info&)>
    on_websocket;

  /// Called for `GET /api/ws/health` with a completion that the app
  /// calls later, from any thread, with (status, JSON body). Without a
  /// hook, or without an answer in time, the client gets 503.
  std::function<void(health_reply)> on_health;
  /// `GET /metrics`: answers with Prometheus text (status, body), from
  /// any thread; unset answers 404. Bounded by the health timeout.
  std::function<void(health_reply)> on_metrics;

  /// Called for `POST` and `DELETE /api/session` (browser sessions) with
  /// a completion as for health. Without a hook that path is 404.
  std::function<void(const http_request_info&, http_reply)> on_session;

  /// Called for a REST request after `authorize` accepted it, with a
  /// completion called later from any thread; the client gets 504 after
  /// listener_options::api_timeout. Without a hook the paths are 404.
  /// `GET /api/telescopes/{id}/events` is no REST request: after
  /// `authorize` it becomes a Server-Sent Events pipe (net/sse_pipe)
  /// handed to `on_websocket` like a WebSocket, `upgrade_info::path`
  /// ending in "/events".
  std::function<void(api_request, http_reply)> on_api;

  /// `GET /debug` and `/debug/{name}`: finds a static file by name ("" is
  /// the page). Returns false for an unknown name (404). Synchronous: the
  /// files are in memory.
  std::function<bool(std::string_view name, std::string_view& body,
                     std::string_view& content_type)>
    find_asset;
};

} // namespace scopehub::net

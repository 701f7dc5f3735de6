#pragma once

// net/http_hooks: what the listener asks of the application. The net/
// layer only moves bytes; the app decides what a WebSocket talks to
// (it spawns a session actor) and what health says.

#include <functional>
#include <map>
#include <memory>
#include <string>

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
  /// cookie, user-agent (absent ones are not in the map).
  std::map<std::string, std::string> headers;
};

/// Completion of a health request: (HTTP status, JSON body). May be
/// called from any thread, at most once (later calls are ignored).
using health_reply = std::function<void(unsigned, std::string)>;

/// Callbacks the app gives to the listener. Both run on an Asio thread
/// and must not block.
struct http_hooks {
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
};

} // namespace scopehub::net

#pragma once

// net/http_route: where an HTTP request goes, decided from its method and
// target alone (pure: no sockets, no allocation), so that the routing
// table of net/http_session can be unit-tested and fuzzed:
//
//   GET /api/ws/health              -> health
//   GET /metrics                    -> metrics (Prometheus text)
//   GET /api/ws[/{telescope_id}]    -> websocket (the caller answers 426
//                                      when the request is no upgrade)
//   POST/DELETE /api/session        -> session (only with an app hook)
//   GET  /api/telescopes[/{id}]     -> api (REST, the app's on_api hook)
//   POST /api/telescopes/{id}/commands -> api
//   GET  /api/telescopes/{id}/events   -> events (Server-Sent Events)
//   GET  /api/sessions              -> api
//   GET/PUT /api/features           -> api
//   OPTIONS on any api/events path  -> preflight (CORS)
//   GET /debug, /debug/{file}       -> asset (the debug page)
//   wrong method on those paths     -> method_not_allowed (see `allow`)
//   anything else                   -> not_found
//
// The query string is split off and passed on, never routed on.

#include <cstdint>
#include <ostream> // boost/beast/http/verb.hpp (1.74) uses it undeclared
#include <string_view>

#include <boost/beast/http/verb.hpp>

namespace scopehub::net {

/// What http_session does with a request.
enum class route_kind : uint8_t {
  health,
  metrics,
  session,
  websocket,
  api,
  events,
  preflight,
  asset,
  method_not_allowed,
  not_found,
};

/// The routing decision for one request. The views point into the
/// target passed to route_of.
struct http_route {
  route_kind kind = route_kind::not_found;
  /// The target up to (not including) the first '?'.
  std::string_view path;
  /// The target after the first '?'; empty without one.
  std::string_view query;
  /// For `websocket`, `api` and `events`: the `{telescope_id}` segment,
  /// empty for `/api/ws` and paths without one.
  std::string_view telescope_id;
  /// For `asset`: the file name under /debug/ ("" for the page itself).
  std::string_view asset;
  /// For `method_not_allowed`: the value of the Allow header.
  std::string_view allow;
};

/// Routes a request by `method` and `target` (the request-target as
/// received, query included). `session_hook` says whether the app serves
/// `/api/session`; without it that path is not_found. A `{telescope_id}`
/// segment must pass protocol::valid_telescope_id, else not_found. For
/// `preflight`, `allow` holds the methods of the path.
http_route route_of(boost::beast::http::verb method, std::string_view target,
                    bool session_hook) noexcept;

} // namespace scopehub::net

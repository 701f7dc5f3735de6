#include "net/http_route.hpp"

#include <cctype>

#include "protocol/glob.hpp"

namespace scopehub::net {

namespace {

using boost::beast::http::verb;

constexpr std::string_view ws_path = "/api/ws";
constexpr std::string_view ws_prefix = "/api/ws/";
constexpr std::string_view health_path = "/api/ws/health";
constexpr std::string_view session_path = "/api/session";
constexpr std::string_view metrics_path = "/metrics";
constexpr std::string_view telescopes_path = "/api/telescopes";
constexpr std::string_view sessions_path = "/api/sessions";
constexpr std::string_view features_path = "/api/features";
constexpr std::string_view debug_path = "/debug";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

/// Routes the REST paths (`/api/telescopes...`, `/api/sessions`,
/// `/api/features`); leaves `r` not_found for anything else.
void route_api(verb method, std::string_view path, http_route& r) {
  auto accept = [&](std::string_view allow, bool ok, route_kind kind) {
    r.allow = allow;
    if (method == verb::options)
      r.kind = route_kind::preflight;
    else if (ok)
      r.kind = kind;
    else
      r.kind = route_kind::method_not_allowed;
  };
  if (path == sessions_path)
    return accept("GET", method == verb::get, route_kind::api);
  if (path == features_path)
    return accept("GET, PUT", method == verb::get || method == verb::put,
                  route_kind::api);
  if (path == telescopes_path)
    return accept("GET", method == verb::get, route_kind::api);
  if (!starts_with(path, telescopes_path)
      || path.size() <= telescopes_path.size() + 1
      || path[telescopes_path.size()] != '/')
    return;
  auto rest = path.substr(telescopes_path.size() + 1);
  auto slash = rest.find('/');
  auto tid = rest.substr(0, slash);
  if (!protocol::valid_telescope_id(tid)) return;
  r.telescope_id = tid;
  if (slash == std::string_view::npos)
    return accept("GET", method == verb::get, route_kind::api);
  auto sub = rest.substr(slash);
  if (sub == "/commands")
    return accept("POST", method == verb::post, route_kind::api);
  if (sub == "/events")
    return accept("GET", method == verb::get, route_kind::events);
  r.telescope_id = {};
}

/// A file name under /debug/: letters, digits, '.', '-', '_', no "..".
bool valid_asset(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.'
      || name.find("..") != std::string_view::npos)
    return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'
          || c == '_'))
      return false;
  return true;
}

} // namespace

http_route route_of(verb method, std::string_view target,
                    bool session_hook) noexcept {
  http_route r;
  r.path = target;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    r.path = target.substr(0, q);
    r.query = target.substr(q + 1);
  }
  const auto path = r.path;
  auto refuse = [&r](std::string_view allow) {
    r.kind = route_kind::method_not_allowed;
    r.allow = allow;
    return r;
  };
  if (path == health_path) {
    if (method != verb::get) return refuse("GET");
    r.kind = route_kind::health;
    return r;
  }
  if (path == metrics_path) {
    if (method != verb::get) return refuse("GET");
    r.kind = route_kind::metrics;
    return r;
  }
  if (path == session_path && session_hook) {
    if (method != verb::post && method != verb::delete_)
      return refuse("POST, DELETE");
    r.kind = route_kind::session;
    return r;
  }
  if (path == debug_path || path == "/debug/"
      || (starts_with(path, "/debug/") && valid_asset(path.substr(7)))) {
    if (method != verb::get) return refuse("GET");
    r.kind = route_kind::asset;
    r.asset = path.size() > 7 ? path.substr(7) : std::string_view{};
    return r;
  }
  if (starts_with(path, "/api/") && !starts_with(path, ws_path)) {
    route_api(method, path, r);
    return r;
  }
  if (path == ws_path || path.substr(0, ws_prefix.size()) == ws_prefix) {
    auto tid = path.size() > ws_path.size() ? path.substr(ws_prefix.size())
                                            : std::string_view{};
    if (path != ws_path && !protocol::valid_telescope_id(tid))
      return r; // not_found
    if (method != verb::get) return refuse("GET");
    r.kind = route_kind::websocket;
    r.telescope_id = tid;
    return r;
  }
  return r;
}

} // namespace scopehub::net

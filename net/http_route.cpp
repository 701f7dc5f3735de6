#include "net/http_route.hpp"

#include "protocol/glob.hpp"

namespace scopehub::net {

namespace {

using boost::beast::http::verb;

constexpr std::string_view ws_path = "/api/ws";
constexpr std::string_view ws_prefix = "/api/ws/";
constexpr std::string_view health_path = "/api/ws/health";
constexpr std::string_view session_path = "/api/session";
constexpr std::string_view metrics_path = "/metrics";

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

// Fuzz target `http`: bytes from a TCP client through Beast's request
// parser, with the header and body limits of net::listener_options, and
// then the routing decision of net/http_route (what net/http_session
// does before it answers or upgrades). Requests are pipelined: after one
// request the rest of the input is the next one (keep-alive). The bytes
// arrive in pieces whose sizes come from the input, as reads would.
//
// Properties: nothing crashes; the route's path and query rebuild the
// target; a websocket route names a valid telescope id (or none, for
// /api/ws) and is a GET; method_not_allowed says what is allowed;
// routing does not depend on the query string.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "net/http_route.hpp"
#include "net/listener.hpp"
#include "protocol/glob.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using scopehub::net::route_kind;
using scopehub::net::route_of;

/// At most this many pipelined requests per input.
constexpr int max_requests = 8;

void check_route(const http::request<http::string_body>& req,
                 bool session_hook) {
  std::string_view target{req.target().data(), req.target().size()};
  auto r = route_of(req.method(), target, session_hook);
  std::string rebuilt{r.path};
  if (r.path.size() < target.size()) {
    rebuilt += '?';
    rebuilt += r.query;
  }
  FUZZ_CHECK(rebuilt == target, "path and query do not rebuild the target");
  FUZZ_CHECK(r.path.find('?') == std::string_view::npos, "'?' in the path");
  switch (r.kind) {
    case route_kind::websocket:
      FUZZ_CHECK(req.method() == http::verb::get, "upgrade route not a GET");
      FUZZ_CHECK(r.telescope_id.empty() == (r.path == "/api/ws"),
                 "telescope id and path disagree");
      FUZZ_CHECK(r.telescope_id.empty()
                   || scopehub::protocol::valid_telescope_id(r.telescope_id),
                 "invalid telescope id routed");
      // What the session checks next: the upgrade headers.
      static_cast<void>(websocket::is_upgrade(req));
      break;
    case route_kind::method_not_allowed:
      FUZZ_CHECK(!r.allow.empty(), "405 without Allow");
      break;
    case route_kind::session:
      FUZZ_CHECK(session_hook, "session route without the hook");
      break;
    case route_kind::health:
      FUZZ_CHECK(r.path == "/api/ws/health", "health on another path");
      break;
    case route_kind::metrics:
      FUZZ_CHECK(r.path == "/metrics" && req.method() == http::verb::get,
                 "metrics on another path or method");
      break;
    case route_kind::api:
    case route_kind::events:
      FUZZ_CHECK(r.path.substr(0, 5) == "/api/", "REST route outside /api/");
      FUZZ_CHECK(r.telescope_id.empty()
                   || scopehub::protocol::valid_telescope_id(r.telescope_id),
                 "invalid telescope id routed");
      FUZZ_CHECK(
        r.kind != route_kind::events
          || (req.method() == http::verb::get && !r.telescope_id.empty()),
        "events route without GET or telescope");
      break;
    case route_kind::preflight:
      FUZZ_CHECK(req.method() == http::verb::options && !r.allow.empty(),
                 "preflight without OPTIONS or Allow");
      break;
    case route_kind::asset:
      FUZZ_CHECK(r.path.substr(0, 6) == "/debug", "asset outside /debug");
      FUZZ_CHECK(r.asset.find("..") == std::string_view::npos
                   && r.asset.find('/') == std::string_view::npos,
                 "asset name escapes /debug/");
      break;
    case route_kind::not_found: break;
  }
  // The query never changes the route.
  auto bare = route_of(req.method(), r.path, session_hook);
  FUZZ_CHECK(bare.kind == r.kind, "the query changed the route");
  static_cast<void>(req.keep_alive());
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const scopehub::net::listener_options opts;
  // Byte 0 selects whether the app serves /api/session; the rest is the
  // byte stream from the client.
  if (size == 0) return 0;
  const bool session_hook = (data[0] & 1) != 0;
  ++data;
  --size;
  std::string pending; // bytes read but not consumed by the parser yet
  size_t pos = 0;
  for (int n = 0; n < max_requests; ++n) {
    std::optional<http::request_parser<http::string_body>> parser;
    parser.emplace();
    parser->header_limit(opts.header_limit);
    parser->body_limit(opts.body_limit);
    boost::beast::error_code ec;
    while (!parser->is_done()) {
      if (!pending.empty()) {
        auto used = parser->put(boost::asio::buffer(pending), ec);
        pending.erase(0, used);
        if (ec == http::error::need_more)
          ec = {};
        else if (ec)
          return 0; // answered 400/413/431 and closed
        // As http_session: a chunked body is refused (411) once the
        // header is read, before the chunk parser runs.
        if (parser->is_header_done() && !parser->is_done() && parser->chunked())
          return 0;
        if (used > 0) continue;
      }
      if (parser->is_done()) break;
      if (pos == size) {
        // The client closed: between requests that is end_of_stream;
        // inside one it may end a body read until EOF.
        if (!parser->got_some()) return 0;
        parser->put_eof(ec);
        if (ec || !parser->is_done()) return 0;
        break;
      }
      size_t chunk = 1 + data[pos] % 64;
      if (chunk > size - pos) chunk = size - pos;
      pending.append(reinterpret_cast<const char*>(data + pos), chunk);
      pos += chunk;
    }
    auto req = parser->release();
    FUZZ_CHECK(req.body().size() <= opts.body_limit, "body over the limit");
    check_route(req, session_hook);
    if (pending.empty() && pos == size) break;
  }
  return 0;
}

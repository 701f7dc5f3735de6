// net/http_session: one HTTP/1.1 connection, one request at a time:
//
//   (TLS handshake, TLS ports only)
//       |
//       v
//   read request --> route --> write response --(keep-alive)--> read ...
//                      |  `--> ask health --> (answer | timeout) --> write
//                      |  `--> ask app (/api/session) --> write
//                      `--> ask authorize --> refused: write JSON, close
//                                         `-> accepted: hand the stream
//                                             to a ws_pipe (WebSocket)
//
// Everything runs on the connection's strand; the health answer comes
// back from any thread and is posted onto it. One class template serves
// plain TCP and TLS (listener_options::tls): the TLS handshake, the
// shutdown and the hand-over to the pipe are the only differences.

#include "net/http_session.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <type_traits>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <spdlog/spdlog.h>

#include "net/http_route.hpp"
#include "net/sse_pipe.hpp"
#include "net/ws_accept.hpp"

#ifndef SCOPEHUB_VERSION
#  define SCOPEHUB_VERSION "0.0.0"
#endif

namespace scopehub::net {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using error_code = beast::error_code;
using tcp = asio::ip::tcp;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

constexpr std::string_view session_path = "/api/session";

/// Headers passed on to the app with an upgrade (lower-case names).
constexpr http::field forwarded_headers[]
  = {http::field::authorization, http::field::origin, http::field::cookie,
     http::field::user_agent};

/// Headers passed on that Beast has no field constant for.
constexpr std::string_view forwarded_extra[]
  = {"last-event-id", "idempotency-key"};

/// What a request waiting for the authorize hook becomes when accepted.
enum class then_do : uint8_t { websocket, api, events };

/// Appends `in` to `out` as the inside of a JSON string.
void append_json_escaped(std::string& out, std::string_view in) {
  static constexpr char hex[] = "0123456789abcdef";
  for (char c : in) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
}

/// `{"error_code":"<code>","message":"<message>"}` (protocol.md, HTTP).
std::string error_body(std::string_view code, std::string_view message) {
  std::string out = R"({"error_code":")";
  out += code;
  out += R"(","message":")";
  append_json_escaped(out, message);
  out += "\"}";
  return out;
}

/// Beast's HTTP parse errors (as opposed to socket errors).
const boost::system::error_category& http_category() {
  return http::make_error_code(http::error::bad_target).category();
}

std::string to_peer(const tcp::socket& socket) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  auto addr = ep.address().to_string();
  if (ep.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(ep.port());
}

/// `Stream` is beast::tcp_stream or tls_stream (net/ws_accept.hpp).
template<class Stream>
class http_session : public std::enable_shared_from_this<http_session<Stream>> {
  using std::enable_shared_from_this<http_session<Stream>>::shared_from_this;

  static constexpr bool is_tls = std::is_same_v<Stream, tls_stream>;

 public:
  http_session(tcp::socket socket, std::shared_ptr<const http_context> ctx,
               connection_slot slot, uint64_t id)
    : peer_(to_peer(socket)), stream_(open(std::move(socket), *ctx)),
      timer_(stream_.get_executor()), ctx_(std::move(ctx)),
      slot_(std::move(slot)), id_(id) {
    // nop
  }

  /// Starts on the connection's strand (with the TLS handshake, if any).
  /// The accept handler does not run on it, so dispatch there before
  /// touching the stream.
  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if constexpr (is_tls)
        self->do_handshake();
      else
        self->do_read();
    });
  }

 private:
  /// Wraps the accepted socket; TLS takes the listener's context.
  static Stream open(tcp::socket socket, const http_context& ctx) {
    if constexpr (is_tls)
      return Stream{beast::tcp_stream{std::move(socket)}, *ctx.opts.tls};
    else
      return Stream{std::move(socket)};
  }

  // -- TLS ------------------------------------------------------------------

  /// The handshake has the request's time bound (read_timeout): a client
  /// that stays silent, or speaks plain HTTP to the TLS port, is dropped
  /// as promptly as a slow request would be, and never gets an answer.
  void do_handshake() {
    beast::get_lowest_layer(stream_).expires_after(ctx_->opts.read_timeout);
    stream_.async_handshake(
      asio::ssl::stream_base::server,
      [self = shared_from_this()](error_code ec) { self->on_handshake(ec); });
  }

  void on_handshake(error_code ec) {
    if (ec) {
      ++ctx_->counters->tls_failures;
      spdlog::debug("http c{} peer={} tls handshake: {}", id_, peer_,
                    ec.message());
      return close_socket();
    }
    do_read();
  }

  // -- reading --------------------------------------------------------------

  void do_read() {
    const auto& o = ctx_->opts;
    parser_.emplace();
    parser_->header_limit(o.header_limit);
    parser_->body_limit(o.body_limit);
    beast::get_lowest_layer(stream_).expires_after(o.read_timeout);
    // The header first: a chunked body is refused before Beast 1.74's
    // chunk parser sees it (it asserts on some malformed chunk headers;
    // found by fuzz_http). No route here takes more than a small JSON body.
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(error_code ec) {
    if (ec || parser_->is_done()) return on_read(ec);
    if (parser_->chunked())
      return reply_and_close(http::status::length_required, "BAD_REQUEST",
                             "chunked request bodies are not supported: send "
                             "Content-Length");
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) {
                       self->on_read(ec);
                     });
  }

  void on_read(error_code ec) {
    if (ec == http::error::end_of_stream) return do_shutdown();
    if (ec == http::error::header_limit)
      return reply_and_close(http::status::request_header_fields_too_large,
                             "BAD_REQUEST", "request header too large");
    if (ec == http::error::body_limit)
      return reply_and_close(http::status::payload_too_large, "BAD_REQUEST",
                             "request body too large");
    if (ec && ec.category() == http_category())
      return reply_and_close(http::status::bad_request, "BAD_REQUEST",
                             "malformed request");
    if (ec) return fail(ec, "read");
    route(parser_->release());
  }

  // -- routing --------------------------------------------------------------

  void route(request req) {
    std::string_view target{req.target().data(), req.target().size()};
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    cors_.clear();
    auto r = route_of(req.method(), target,
                      static_cast<bool>(ctx_->hooks.on_session));
    switch (r.kind) {
      case route_kind::health: return ask_health(ctx_->hooks.on_health, false);
      case route_kind::metrics:
        if (!ctx_->hooks.on_metrics) return not_found(req, r.path);
        return ask_health(ctx_->hooks.on_metrics, true);
      case route_kind::session: return ask_session(std::move(req), r.path);
      case route_kind::websocket:
        if (!websocket::is_upgrade(req)) {
          auto res = make_json(
            http::status::upgrade_required,
            error_body("UPGRADE_REQUIRED", "this path speaks WebSocket only"));
          res.set(http::field::upgrade, "websocket");
          return write(std::move(res));
        }
        return authorize(std::move(req), r, then_do::websocket);
      case route_kind::api:
        if (!ctx_->hooks.on_api) return not_found(req, r.path);
        return authorize(std::move(req), r, then_do::api);
      case route_kind::events:
        if (!ctx_->hooks.on_api) return not_found(req, r.path);
        return authorize(std::move(req), r, then_do::events);
      case route_kind::preflight: return preflight(req, r);
      case route_kind::asset: return serve_asset(req, r);
      case route_kind::method_not_allowed: return method_not_allowed(req, r);
      case route_kind::not_found: return not_found(req, r.path);
    }
  }

  void not_found(const request& req, std::string_view path) {
    std::string msg = "no route for ";
    msg.append(req.method_string().data(), req.method_string().size());
    msg += ' ';
    msg += path;
    write(make_json(http::status::not_found, error_body("NOT_FOUND", msg)));
  }

  void method_not_allowed(const request& req, const http_route& r) {
    std::string msg;
    if (r.path == session_path) {
      msg = "use POST or DELETE on /api/session";
    } else {
      msg = "method ";
      msg.append(req.method_string().data(), req.method_string().size());
      msg += " not allowed on ";
      msg += r.path;
    }
    auto res = make_json(http::status::method_not_allowed,
                         error_body("METHOD_NOT_ALLOWED", msg));
    res.set(http::field::allow,
            beast::string_view{r.allow.data(), r.allow.size()});
    write(std::move(res));
  }

  // -- health ---------------------------------------------------------------

  /// Asks the app's health or metrics hook; `text` answers with the
  /// Prometheus text content type instead of JSON.
  void ask_health(const std::function<void(health_reply)>& hook, bool text) {
    text_answer_ = text;
    if (!hook)
      return write(
        make_json(http::status::service_unavailable,
                  error_body("OVERLOADED", "health is not available")));
    const auto ticket = ++health_ticket_;
    timer_.expires_after(ctx_->opts.health_timeout);
    timer_.async_wait([self = shared_from_this(), ticket](error_code ec) {
      if (!ec)
        self->on_health(
          ticket, 503,
          error_body("OVERLOADED", "health did not answer in time"));
    });
    // The app answers from any thread: hop back onto our strand.
    hook([self = shared_from_this(), exec = stream_.get_executor(),
          ticket](unsigned status, std::string body) {
      asio::post(exec, [self, ticket, status, b = std::move(body)]() mutable {
        self->on_health(ticket, status, std::move(b));
      });
    });
  }

  /// The answer (or the timeout) of health request `ticket`; the first
  /// one wins, later ones are ignored.
  void on_health(uint64_t ticket, unsigned status, std::string body) {
    if (ticket != health_ticket_ || answered_ticket_ == ticket) return;
    answered_ticket_ = ticket;
    timer_.cancel();
    if (status < 100 || status > 599) status = 500;
    auto res = make_json(static_cast<http::status>(status), std::move(body));
    if (text_answer_ && status == 200)
      res.set(http::field::content_type,
              "text/plain; version=0.0.4; charset=utf-8");
    write(std::move(res));
  }

  // -- app requests (/api/session) -------------------------------------------

  void ask_session(request req, std::string_view path) {
    http_request_info info;
    info.method
      = std::string{req.method_string().data(), req.method_string().size()};
    info.path = std::string{path};
    info.body = std::move(req.body());
    info.peer = peer_;
    info.headers = forwarded(req);
    const auto ticket = ++health_ticket_;
    timer_.expires_after(ctx_->opts.health_timeout);
    timer_.async_wait([self = shared_from_this(), ticket](error_code ec) {
      if (!ec) {
        http_answer late;
        late.status = 503;
        late.body = error_body("OVERLOADED", "no answer in time");
        self->on_session_answer(ticket, std::move(late));
      }
    });
    ctx_->hooks.on_session(info, [self = shared_from_this(),
                                  exec = stream_.get_executor(),
                                  ticket](http_answer answer) {
      asio::post(exec, [self, ticket, a = std::move(answer)]() mutable {
        self->on_session_answer(ticket, std::move(a));
      });
    });
  }

  void on_session_answer(uint64_t ticket, http_answer answer) {
    if (ticket != health_ticket_ || answered_ticket_ == ticket) return;
    answered_ticket_ = ticket;
    timer_.cancel();
    if (answer.status < 100 || answer.status > 599) answer.status = 500;
    auto res = make_json(static_cast<http::status>(answer.status),
                         std::move(answer.body));
    if (!answer.set_cookie.empty())
      res.set(http::field::set_cookie, answer.set_cookie);
    if (!answer.content_type.empty())
      res.set(http::field::content_type, answer.content_type);
    write(std::move(res));
  }

  /// The forwarded_headers of `req`, names in lower case.
  static std::map<std::string, std::string> forwarded(const request& req) {
    std::map<std::string, std::string> out;
    for (auto field : forwarded_headers) {
      if (auto i = req.find(field); i != req.end()) {
        auto name = http::to_string(field);
        std::string key{name.data(), name.size()};
        for (auto& c : key)
          c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        auto value = i->value();
        out.emplace(std::move(key), std::string{value.data(), value.size()});
      }
    }
    for (auto name : forwarded_extra) {
      if (auto i = req.find(beast::string_view{name.data(), name.size()});
          i != req.end()) {
        auto value = i->value();
        out.emplace(std::string{name}, std::string{value.data(), value.size()});
      }
    }
    return out;
  }

  // -- CORS and static files
  // ---------------------------------------------------

  /// The request's Origin when it may call the REST paths (CORS).
  std::string cors_origin(const request& req) const {
    auto i = req.find(http::field::origin);
    if (i == req.end()) return {};
    std::string origin{i->value().data(), i->value().size()};
    const auto& ok = ctx_->opts.cors_origins;
    return std::find(ok.begin(), ok.end(), origin) != ok.end() ? origin
                                                               : std::string{};
  }

  /// `OPTIONS` on a REST path: the CORS preflight. An allowed origin gets
  /// 204 with what it may send; any other request gets 403.
  void preflight(const request& req, const http_route& r) {
    auto origin = cors_origin(req);
    if (origin.empty())
      return write(make_json(
        http::status::forbidden,
        error_body("FORBIDDEN", "origin not allowed (server.cors-origins)")));
    response res{http::status::no_content, version_};
    res.set(http::field::server, "scopehub/" SCOPEHUB_VERSION);
    res.set(http::field::access_control_allow_origin, origin);
    res.set(http::field::access_control_allow_credentials, "true");
    res.set(http::field::access_control_allow_methods,
            std::string{r.allow} + ", OPTIONS");
    res.set(http::field::access_control_allow_headers,
            "Authorization, Content-Type, Idempotency-Key, Last-Event-ID");
    res.set(http::field::access_control_max_age, "600");
    res.set(http::field::vary, "Origin");
    res.keep_alive(keep_alive_);
    res.prepare_payload();
    write(std::move(res));
  }

  /// `GET /debug[/{name}]` from the app's in-memory files.
  void serve_asset(const request& req, const http_route& r) {
    std::string_view body;
    std::string_view type;
    if (!ctx_->hooks.find_asset || !ctx_->hooks.find_asset(r.asset, body, type))
      return not_found(req, r.path);
    response res{http::status::ok, version_};
    res.set(http::field::server, "scopehub/" SCOPEHUB_VERSION);
    res.set(http::field::content_type,
            beast::string_view{type.data(), type.size()});
    res.set(http::field::cache_control, "no-cache");
    res.set("X-Content-Type-Options", "nosniff");
    res.keep_alive(keep_alive_);
    res.body().assign(body.data(), body.size());
    res.prepare_payload();
    write(std::move(res));
  }

  // -- WebSocket ------------------------------------------------------------

  /// Asks the app's authorize hook about a WebSocket upgrade, a REST
  /// request or an event stream (credentials, connection caps), then
  /// goes on with `next`. The request waits here.
  void authorize(request req, const http_route& r, then_do next) {
    upgrade_info info;
    info.path = std::string{r.path};
    info.telescope_id = std::string{r.telescope_id};
    info.query = std::string{r.query};
    info.peer = peer_;
    info.headers = forwarded(req);
    next_ = next;
    cors_ = next == then_do::websocket ? std::string{} : cors_origin(req);
    if (!ctx_->hooks.authorize) return proceed(std::move(req), std::move(info));
    // The app answers from any thread, so hop back onto our strand.
    const auto ticket = ++health_ticket_;
    upgrade_req_.emplace(std::move(req));
    upgrade_info_ = std::move(info);
    timer_.expires_after(ctx_->opts.authorize_timeout);
    timer_.async_wait([self = shared_from_this(), ticket](error_code ec) {
      if (!ec) {
        authorization refused;
        refused.status = 503;
        refused.body = error_body("OVERLOADED", "authorization timed out");
        self->on_authorized(ticket, std::move(refused));
      }
    });
    ctx_->hooks.authorize(upgrade_info_, [self = shared_from_this(),
                                          exec = stream_.get_executor(),
                                          ticket](authorization verdict) {
      asio::post(exec, [self, ticket, v = std::move(verdict)]() mutable {
        self->on_authorized(ticket, std::move(v));
      });
    });
  }

  /// The app's verdict (or the timeout) on request `ticket`; the first
  /// one wins.
  void on_authorized(uint64_t ticket, authorization verdict) {
    if (ticket != health_ticket_ || answered_ticket_ == ticket || !upgrade_req_)
      return;
    answered_ticket_ = ticket;
    timer_.cancel();
    auto req = std::move(*upgrade_req_);
    upgrade_req_.reset();
    if (verdict.status != 0) {
      if (verdict.status < 400 || verdict.status > 599) verdict.status = 500;
      spdlog::debug("http c{} peer={} {} refused {}", id_, peer_,
                    upgrade_info_.path, verdict.status);
      if (next_ == then_do::websocket) keep_alive_ = false;
      return write(make_json(static_cast<http::status>(verdict.status),
                             std::move(verdict.body)));
    }
    upgrade_info_.grant = std::move(verdict.grant);
    proceed(std::move(req), std::move(upgrade_info_));
  }

  void proceed(request req, upgrade_info info) {
    switch (next_) {
      case then_do::websocket: return accept(std::move(req), std::move(info));
      case then_do::api: return ask_api(std::move(req), std::move(info));
      case then_do::events: return events(std::move(info));
    }
  }

  // -- REST and event streams -------------------------------------------------

  void ask_api(request req, upgrade_info info) {
    api_request call;
    call.method
      = std::string{req.method_string().data(), req.method_string().size()};
    call.body = std::move(req.body());
    call.who = std::move(info);
    const auto ticket = ++health_ticket_;
    timer_.expires_after(ctx_->opts.api_timeout);
    timer_.async_wait([self = shared_from_this(), ticket](error_code ec) {
      if (!ec) {
        http_answer late;
        late.status = 504;
        late.body = error_body("COMMAND_TIMEOUT", "no answer in time");
        self->on_session_answer(ticket, std::move(late));
      }
    });
    ctx_->hooks.on_api(std::move(call), [self = shared_from_this(),
                                         exec = stream_.get_executor(),
                                         ticket](http_answer answer) {
      asio::post(exec, [self, ticket, a = std::move(answer)]() mutable {
        self->on_session_answer(ticket, std::move(a));
      });
    });
  }

  /// The connection becomes an event stream owned by its session.
  void events(upgrade_info info) {
    std::string extra;
    if (!cors_.empty())
      extra = "Access-Control-Allow-Origin: " + cors_
              + "\r\nAccess-Control-Allow-Credentials: true\r\nVary: "
                "Origin\r\n";
    beast::get_lowest_layer(stream_).expires_never();
    start_sse(std::move(stream_), ctx_, std::move(info), std::move(slot_), id_,
              version_, std::move(extra));
  }

  void accept(request req, upgrade_info info) {
    // The pipe owns the connection from here; this session ends.
    accept_websocket(std::move(stream_), std::move(req), ctx_, std::move(info),
                     std::move(slot_), id_);
  }

  // -- writing --------------------------------------------------------------

  response make_json(http::status status, std::string body) {
    response res{status, version_};
    res.set(http::field::server, "scopehub/" SCOPEHUB_VERSION);
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    if (!cors_.empty()) {
      res.set(http::field::access_control_allow_origin, cors_);
      res.set(http::field::access_control_allow_credentials, "true");
      res.set(http::field::vary, "Origin");
    }
    res.keep_alive(keep_alive_);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  /// Answers a request that could not be read, then closes.
  void reply_and_close(http::status status, std::string_view code,
                       std::string_view message) {
    version_ = 11;
    keep_alive_ = false;
    write(make_json(status, error_body(code, message)));
  }

  void write(response res) {
    ++ctx_->counters->http_requests;
    spdlog::debug("http c{} peer={} -> {}", id_, peer_, res.result_int());
    res_ = std::move(res);
    beast::get_lowest_layer(stream_).expires_after(ctx_->opts.write_timeout);
    http::async_write(stream_, *res_,
                      [self = shared_from_this()](error_code ec, size_t) {
                        self->on_write(ec);
                      });
  }

  void on_write(error_code ec) {
    if (ec) return fail(ec, "write");
    const bool close = res_->need_eof();
    res_.reset();
    if (close) return do_shutdown();
    do_read();
  }

  /// Ends the connection after its last response or the client's EOF.
  /// TCP half-closes; TLS first sends its close_notify (bounded by the
  /// WebSocket close timeout), then closes.
  void do_shutdown() {
    if constexpr (is_tls) {
      beast::get_lowest_layer(stream_).expires_after(
        ctx_->opts.ws.close_timeout);
      stream_.async_shutdown(
        [self = shared_from_this()](error_code) { self->close_socket(); });
    } else {
      error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  void close_socket() {
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
  }

  void fail(error_code ec, const char* what) {
    if (ec == asio::error::operation_aborted || ec == beast::error::timeout)
      return; // our own timeouts: an idle keep-alive connection ends
    if (ec == asio::ssl::error::stream_truncated)
      return; // a TLS client that left without close_notify: common
    spdlog::debug("http c{} peer={} {}: {}", id_, peer_, what, ec.message());
  }

  // -- state ----------------------------------------------------------------

  std::string peer_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<response> res_; ///< the one response being written
  asio::steady_timer timer_;    ///< health answer deadline
  std::shared_ptr<const http_context> ctx_;
  connection_slot slot_;
  uint64_t id_;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool text_answer_ = false;   ///< the pending probe is /metrics
  uint64_t health_ticket_ = 0; ///< health and authorize requests
  uint64_t answered_ticket_ = 0;
  std::optional<request> upgrade_req_; ///< waiting for authorize
  upgrade_info upgrade_info_;
  then_do next_ = then_do::websocket; ///< what upgrade_req_ becomes
  std::string cors_; ///< allowed Origin of the current REST request
};

} // namespace

void run_http_session(tcp::socket socket,
                      std::shared_ptr<const http_context> ctx,
                      connection_slot slot, uint64_t id) {
  if (ctx->opts.tls)
    std::make_shared<http_session<tls_stream>>(
      std::move(socket), std::move(ctx), std::move(slot), id)
      ->run();
  else
    std::make_shared<http_session<beast::tcp_stream>>(
      std::move(socket), std::move(ctx), std::move(slot), id)
      ->run();
}

} // namespace scopehub::net

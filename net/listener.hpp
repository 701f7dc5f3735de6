#pragma once

// net/listener: accepts TCP connections (TLS ones when configured) and
// hands each one to an HTTP session (net/http_session), which routes
// `/api/ws/health`, upgrades `/api/ws[/{telescope_id}]` to a WebSocket
// (net/ws_pipe) and answers everything else with a JSON error. The
// listener keeps accepting after errors (EMFILE and the like) with a
// short back-off.
//
// Wiring (the app, one io_context thread by default):
//
//   boost::asio::io_context ioc{1};
//   net::listener lst{ioc, opts, hooks};       // hooks spawn sessions
//   auto port = lst.start();                   // bind + listen, or error
//   std::thread io{[&] { ioc.run(); }};
//   ...
//   lst.stop();                                // no new connections
//   // close sessions through their actors, wait a little, then:
//   ioc.stop(); io.join();
//   // destroy the listener before the io_context, both before the
//   // actor_system (pipes hold actor handles until they are destroyed).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf/expected.hpp"
#include "net/connect_limiter.hpp"
#include "net/http_hooks.hpp"
#include "net/net_counters.hpp"
#include "net/ws_pipe.hpp"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
} // namespace ssl
} // namespace boost::asio

namespace scopehub::net {

/// Where to listen and the limits of plain HTTP requests.
struct listener_options {
  /// Address to bind; loopback unless auth is configured (protocol.md).
  std::string address = "127.0.0.1";
  /// Port to bind; 0 picks an ephemeral one (see listener::port()).
  uint16_t port = 8000;
  /// Largest request header block; Beast's default is 8 KiB as well.
  uint32_t header_limit = 8 * 1024;
  /// Largest request body: no route here takes a large one.
  uint64_t body_limit = 64 * 1024;
  /// Time to read one request (and an idle keep-alive connection's
  /// lifetime between requests).
  std::chrono::milliseconds read_timeout = std::chrono::seconds{15};
  /// Time to write one response.
  std::chrono::milliseconds write_timeout = std::chrono::seconds{15};
  /// How long the health hook may take before the client gets 503.
  std::chrono::milliseconds health_timeout = std::chrono::seconds{5};
  /// How long a REST request (http_hooks::on_api) may take before the
  /// client gets 504: a long command (goto) answers when it is done.
  std::chrono::milliseconds api_timeout = std::chrono::seconds{330};
  /// Origins (e.g. "https://ops.example.org") whose pages may call the
  /// REST and SSE paths from a browser (CORS). Others get no CORS headers
  /// and a refused preflight.
  std::vector<std::string> cors_origins;
  /// `retry:` (ms) sent at the start of an event stream: how long an
  /// EventSource waits before it reconnects.
  uint32_t sse_retry_ms = 2000;
  /// How long the authorize hook may take before the client gets 503.
  std::chrono::milliseconds authorize_timeout = std::chrono::seconds{5};
  /// Pause after a failed accept (EMFILE: wait for descriptors).
  std::chrono::milliseconds accept_backoff = std::chrono::milliseconds{100};
  /// SO_SNDBUF of every accepted socket; 0 leaves the kernel's autotuning
  /// (which may hold megabytes per slow client before our own limits see
  /// any backlog).
  int send_buffer = 0;
  /// Connection attempts per client address (token bucket); checked at
  /// accept, before any byte is read.
  connect_limits connect;
  /// Every WebSocket's limits.
  ws_options ws;
  /// TLS (net/tls_context): when set, the port speaks TLS only. Every
  /// connection does the TLS handshake first, within read_timeout (plain
  /// text fails it and is dropped unanswered), then HTTP and WebSocket
  /// run over TLS. Null: plain TCP.
  std::shared_ptr<boost::asio::ssl::context> tls;
};

/// Returns an empty string when `opts` is usable, else what is wrong.
std::string validate(const listener_options& opts);

/// Accepts connections on one address and port. Not copyable. Calls
/// may come from any thread; the work runs on the io_context.
class listener {
 public:
  listener(boost::asio::io_context& ioc, listener_options opts,
           http_hooks hooks);
  ~listener();

  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  /// Binds, listens and starts accepting. Returns the bound port, or an
  /// error (invalid options, bad address, port in use). Call once.
  caf::expected<uint16_t> start();

  /// The bound port after a successful start(), else 0.
  uint16_t port() const noexcept;

  /// Stops accepting (takes effect on the io_context). Open connections
  /// are not touched: the app closes sessions through their actors.
  void stop();

  /// The counters of this listener and of every connection it accepted.
  std::shared_ptr<const net_counters> counters() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace scopehub::net

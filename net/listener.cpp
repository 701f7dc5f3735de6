// net/listener: the accept loop. Each accepted socket gets its own strand
// (chosen here, at accept) and an HTTP session; the loop never stops on
// an error, it pauses for `accept_backoff` and tries again, so running
// out of descriptors (EMFILE) degrades service instead of ending it.

#include "net/listener.hpp"

#include <atomic>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <spdlog/spdlog.h>

#include "caf/sec.hpp"
#include "net/http_session.hpp"

namespace scopehub::net {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

} // namespace

struct listener::impl : std::enable_shared_from_this<listener::impl> {
  impl(asio::io_context& io, listener_options opts, http_hooks hooks)
    : ioc(io), acceptor(asio::make_strand(io)),
      backoff(acceptor.get_executor()),
      ctx(std::make_shared<http_context>(http_context{
        std::move(opts), std::move(hooks), std::make_shared<net_counters>()})),
      limiter(ctx->opts.connect) {
    // nop
  }

  asio::io_context& ioc;
  tcp::acceptor acceptor; ///< on its own strand, like every connection
  asio::steady_timer backoff;
  std::shared_ptr<const http_context> ctx;
  std::atomic<uint16_t> port{0};
  bool stopped = false;    ///< strand only
  uint64_t last_id = 0;    ///< strand only: connection ids, "c1", "c2", ...
  connect_limiter limiter; ///< strand only

  void do_accept() {
    // A fresh strand per connection: its handlers never run concurrently
    // even with several io threads, so the session needs no locks.
    acceptor.async_accept(
      asio::make_strand(ioc),
      [self = shared_from_this()](error_code ec, tcp::socket socket) {
        self->on_accept(ec, std::move(socket));
      });
  }

  void on_accept(error_code ec, tcp::socket socket) {
    if (stopped) return;
    auto& counters = *ctx->counters;
    if (ec) {
      ++counters.accept_errors;
      fail(ec, "accept");
      backoff.expires_after(ctx->opts.accept_backoff);
      backoff.async_wait([self = shared_from_this()](error_code ec) {
        if (!ec && !self->stopped) self->do_accept();
      });
      return;
    }
    ++counters.accepted;
    error_code peer_ec;
    auto peer = socket.remote_endpoint(peer_ec);
    if (!peer_ec
        && !limiter.admit(peer.address().to_string(),
                          connect_limiter::clock::now())) {
      // Over its connection-attempt budget: closed before a byte is read.
      if (++counters.refused_connect_rate % 100 == 1)
        spdlog::warn("listener: {} over the connection rate ({} refused)",
                     peer.address().to_string(),
                     counters.refused_connect_rate.load());
      socket.close(peer_ec);
      return do_accept();
    }
    if (ctx->opts.send_buffer > 0)
      socket.set_option(
        asio::socket_base::send_buffer_size{ctx->opts.send_buffer}, peer_ec);
    // Every write here is a whole message the client waits for: with
    // Nagle on, a small frame after another (the snapshot after the
    // subscribe answer) waited for the client's delayed ACK, 40 ms
    // (scopebench connect-rate). Each frame is one write already.
    socket.set_option(tcp::no_delay{true}, peer_ec);
    run_http_session(std::move(socket), ctx, connection_slot{ctx->counters},
                     ++last_id);
    do_accept();
  }

  void close() {
    stopped = true;
    backoff.cancel();
    error_code ignored;
    if (acceptor.is_open()) {
      acceptor.close(ignored);
      spdlog::info("listener on port {} stopped", port.load());
    }
  }

  void fail(error_code ec, const char* what) {
    if (ec == asio::error::operation_aborted) return;
    spdlog::warn("listener on port {}: {}: {} (retrying in {} ms)", port.load(),
                 what, ec.message(), ctx->opts.accept_backoff.count());
  }
};

std::string validate(const listener_options& opts) {
  using std::chrono::milliseconds;
  if (opts.header_limit < 1024)
    return "http header_limit must be at least 1 KiB";
  if (opts.body_limit > (16u << 20))
    return "http body_limit must be at most 16 MiB";
  if (opts.read_timeout <= milliseconds{0}
      || opts.write_timeout <= milliseconds{0}
      || opts.health_timeout <= milliseconds{0}
      || opts.authorize_timeout <= milliseconds{0})
    return "http timeouts must be positive";
  if (opts.accept_backoff <= milliseconds{0}
      || opts.accept_backoff > milliseconds{10'000})
    return "accept_backoff must be within (0, 10 s]";
  return validate(opts.ws);
}

listener::listener(asio::io_context& ioc, listener_options opts,
                   http_hooks hooks)
  : impl_(std::make_shared<impl>(ioc, std::move(opts), std::move(hooks))) {
  // nop
}

listener::~listener() { stop(); }

caf::expected<uint16_t> listener::start() {
  auto& s = *impl_;
  const auto& o = s.ctx->opts;
  if (s.port != 0 || s.acceptor.is_open())
    return caf::make_error(caf::sec::invalid_argument,
                           "listener already started");
  if (auto what = validate(o); !what.empty())
    return caf::make_error(caf::sec::invalid_argument, std::move(what));
  error_code ec;
  auto addr = asio::ip::make_address(o.address, ec);
  if (ec)
    return caf::make_error(caf::sec::invalid_argument,
                           "bad listen address: " + o.address);
  const tcp::endpoint ep{addr, o.port};
  auto failed = [&](const char* what) {
    error_code ignored;
    s.acceptor.close(ignored);
    return caf::make_error(caf::sec::cannot_open_port,
                           std::string{what} + " " + o.address + ":"
                             + std::to_string(o.port) + ": " + ec.message());
  };
  if (s.acceptor.open(ep.protocol(), ec); ec) return failed("open");
  if (s.acceptor.set_option(asio::socket_base::reuse_address(true), ec); ec)
    return failed("set reuse_address on");
  if (s.acceptor.bind(ep, ec); ec) return failed("bind");
  if (s.acceptor.listen(asio::socket_base::max_listen_connections, ec); ec)
    return failed("listen on");
  const auto bound = s.acceptor.local_endpoint(ec).port();
  if (ec) return failed("read the port of");
  s.port = bound;
  spdlog::info("listening on {}:{}{}", o.address, bound,
               o.tls ? " (TLS only: https://, wss://)" : "");
  asio::dispatch(s.acceptor.get_executor(),
                 [self = impl_] { self->do_accept(); });
  return bound;
}

uint16_t listener::port() const noexcept { return impl_->port.load(); }

void listener::stop() {
  asio::post(impl_->acceptor.get_executor(), [self = impl_] { self->close(); });
}

std::shared_ptr<const net_counters> listener::counters() const noexcept {
  return impl_->ctx->counters;
}

} // namespace scopehub::net

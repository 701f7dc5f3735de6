#pragma once

// scopebench's WebSocket client and the frame of a run (fake device +
// scopehub child + one io_context), shared by every scenario. Everything
// runs on the one thread that runs the io_context.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include "actors/auth.hpp"
#include "apps/scopebench/common.hpp"
#include "apps/scopebench/fake_device.hpp"
#include "apps/scopebench/farm.hpp"
#include "apps/scopebench/server_proc.hpp"

namespace scopebench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

inline constexpr const char* telescope_id = "bench";

inline bool contains(std::string_view text, std::string_view what) {
  return text.find(what) != std::string_view::npos;
}

/// The unsigned integer after `key` in `text` (e.g. `"temp":`), if any.
inline std::optional<uint64_t> number_after(std::string_view text,
                                            std::string_view key) {
  auto pos = text.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  const char* first = text.data() + pos + key.size();
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(first, text.data() + text.size(), value);
  if (ec != std::errc{}) return std::nullopt;
  return value;
}

// -- a WebSocket client -------------------------------------------------------

/// One client connection on the shared io_context (single thread). It
/// calls `on_open` after the handshake and `on_text` for every message.
class ws_client {
 public:
  std::function<void(ws_client&)> on_open;
  std::function<void(ws_client&, std::string_view)> on_text;
  std::function<void(ws_client&, const std::string&)> on_error;
  size_t index = 0;

  explicit ws_client(asio::io_context& ioc) : ws_(ioc) {
    ws_.secure_prng(false); // masking keys need no crypto in a bench
  }

  /// After the message being handled, read nothing more (a stuck client
  /// whose socket stays open).
  bool stop_reading = false;

  /// SO_RCVBUF before connecting (0: the kernel's); a small one makes a
  /// client that stops reading push back on the server at once.
  int receive_buffer = 0;

  /// When > 0: a deadline, from start(), for everything up to the next
  /// expiry change (connect, upgrade, the reads and writes after it); past
  /// it the pending operation fails with a timeout.
  bench_clock::duration start_timeout{};

  void start(uint16_t port, std::string target) {
    target_ = std::move(target);
    tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), port};
    if (receive_buffer > 0) {
      auto& sock = beast::get_lowest_layer(ws_).socket();
      error_code ignored;
      sock.open(tcp::v4(), ignored);
      sock.set_option(asio::socket_base::receive_buffer_size{receive_buffer},
                      ignored);
    }
    if (start_timeout > bench_clock::duration{})
      beast::get_lowest_layer(ws_).expires_after(start_timeout);
    beast::get_lowest_layer(ws_).async_connect(ep, [this, port](error_code ec) {
      if (ec) return fail("connect", ec);
      error_code ignored;
      beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay{true},
                                                       ignored);
      ws_.async_handshake("127.0.0.1:" + std::to_string(port), target_,
                          [this](error_code ec) {
                            if (ec) return fail("handshake", ec);
                            open_ = true;
                            if (on_open) on_open(*this);
                            do_read();
                          });
    });
  }

  void send(std::string text) {
    if (!open_) return;
    out_.push_back(std::move(text));
    if (out_.size() == 1) do_write();
  }

  /// The WebSocket close handshake (code 1000), once the queued writes are
  /// out, within `timeout`; then the socket is closed and `done` gets the
  /// handshake's result. Call it with no read pending (from on_text after
  /// setting stop_reading). A write that fails first reports to on_error
  /// instead, and `done` is not called.
  void close(bench_clock::duration timeout,
             std::function<void(error_code)> done) {
    on_closed_ = std::move(done);
    close_timeout_ = timeout;
    if (out_.empty()) do_close();
  }

  /// Drops the TCP connection (no close handshake: the bench is ending).
  void kill() {
    stopped_ = true;
    open_ = false;
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  bool is_open() const { return open_; }

 private:
  void do_read() {
    ws_.async_read(buf_, [this](error_code ec, size_t) {
      if (ec) return fail("read", ec);
      auto data = buf_.cdata();
      if (on_text)
        on_text(*this, std::string_view{static_cast<const char*>(data.data()),
                                        data.size()});
      buf_.consume(buf_.size());
      if (!stop_reading) do_read();
    });
  }

  void do_write() {
    ws_.async_write(asio::buffer(out_.front()), [this](error_code ec, size_t) {
      if (ec) return fail("write", ec);
      out_.pop_front();
      if (!out_.empty())
        do_write();
      else if (on_closed_)
        do_close();
    });
  }

  void do_close() {
    open_ = false;
    beast::get_lowest_layer(ws_).expires_after(close_timeout_);
    ws_.async_close(websocket::close_code::normal, [this](error_code ec) {
      stopped_ = true;
      error_code ignored;
      beast::get_lowest_layer(ws_).socket().close(ignored);
      auto done = std::move(on_closed_);
      on_closed_ = nullptr;
      if (done) done(ec);
    });
  }

  void fail(const char* what, error_code ec) {
    open_ = false;
    if (stopped_) return;
    stopped_ = true;
    if (on_error) on_error(*this, std::string{what} + ": " + ec.message());
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  std::string target_;
  std::deque<std::string> out_;
  std::function<void(error_code)> on_closed_;
  bench_clock::duration close_timeout_{};
  bool open_ = false;
  bool stopped_ = false;
};

// -- the common frame of a run ------------------------------------------------

/// Device + server + io_context for one scenario run. With --farm,
/// `server` is the gateway the clients use (its pid is the one whose RSS
/// and CPU the scenarios read) and `edge` the process holding the device.
struct rig {
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> guard{
    ioc.get_executor()};
  fake_device device{ioc};
  server_proc server;
  server_proc edge; ///< --farm only
  std::vector<std::unique_ptr<ws_client>> clients;
  std::string error;          ///< first client error, if any
  uint64_t client_errors = 0; ///< clients that failed

  std::string start(const options& opts) {
    auto port = device.start();
    if (opts.farm) return start_farm(opts, port);
    return server.start(opts.server, telescope_id, port, opts.server_args,
                        opts.server_log);
  }

  /// Edge on the device, gateway linked to it (the --server-args go to
  /// both), then waits (at most 15 s) until the gateway lists the
  /// telescope online on the edge's node.
  std::string start_farm(const options& opts, uint16_t device_port) {
    const auto secret
      = scopehub::auth::random_hex(16); // this run's farm secret
    if (auto err = edge.spawn(
          opts.server,
          farm_edge_args(telescope_id, device_port, secret, opts.server_args),
          opts.server_log, "edge", true);
        !err.empty())
      return "farm edge: " + err;
    if (auto err = server.spawn(
          opts.server,
          farm_gateway_args(edge.farm_port(), secret, opts.server_args),
          opts.server_log, "gateway");
        !err.empty())
      return "farm gateway: " + err;
    struct answer {
      bool done = false;
      error_code ec;
      unsigned status = 0;
      std::string body;
    };
    const auto deadline = bench_clock::now() + std::chrono::seconds{15};
    std::string last = "no answer";
    for (;;) {
      auto a = std::make_shared<answer>();
      http_get(ioc, server.port(), "/api/telescopes",
               [a](error_code ec, unsigned status, std::string body) {
                 a->done = true;
                 a->ec = ec;
                 a->status = status;
                 a->body = std::move(body);
               });
      // http_get gives up after 2 s by itself.
      run_until([&] { return a->done; }, std::chrono::seconds{5});
      if (a->done && !a->ec && a->status == 200
          && farm_lists_online(a->body, telescope_id))
        return {};
      if (a->done)
        last = a->ec ? a->ec.message()
                     : std::to_string(a->status) + " " + a->body.substr(0, 200);
      if (bench_clock::now() >= deadline)
        return std::string{"farm: the gateway did not list "} + telescope_id
               + " online within 15 s (last answer: " + last + ")";
      run_for(std::chrono::milliseconds{50});
    }
  }

  /// Runs handlers until `done()` or `timeout`; returns done().
  template<class Pred>
  bool run_until(Pred done, bench_clock::duration timeout) {
    auto deadline = bench_clock::now() + timeout;
    while (!done()) {
      auto now = bench_clock::now();
      if (now >= deadline) return false;
      ioc.run_one_for(std::min<bench_clock::duration>(
        deadline - now, std::chrono::milliseconds{50}));
    }
    return true;
  }

  /// Runs handlers for `d`.
  void run_for(bench_clock::duration d) {
    run_until([] { return false; }, d);
  }

  ws_client& add_client() {
    clients.push_back(std::make_unique<ws_client>(ioc));
    auto& c = *clients.back();
    c.index = clients.size() - 1;
    c.on_error = [this](ws_client&, const std::string& what) {
      ++client_errors;
      if (error.empty()) error = what;
    };
    return c;
  }

  /// Closes clients, lets their handlers finish, stops the server.
  void finish() {
    for (auto& c : clients)
      c->kill();
    run_for(std::chrono::milliseconds{100});
    server.stop(); // the gateway first: it would log the edge's loss
    edge.stop();
    device.stop();
    run_for(std::chrono::milliseconds{50});
  }

  ~rig() {
    server.stop();
    edge.stop();
    for (auto& c : clients)
      c->kill();
    ioc.stop();
  }
};

inline std::string subscribe_frame(size_t index) {
  return R"({"id":"sub-)" + std::to_string(index)
         + R"(","type":"subscribe","telescope_id":")" + telescope_id
         + R"(","payload":{"subscription_types":["system"]}})";
}

inline bool is_system_snapshot(std::string_view text) {
  return contains(text, R"("type":"status_update")")
         && contains(text, R"("category":"system")")
         && contains(text, R"("full_update":true)");
}

inline bool is_system_delta(std::string_view text) {
  return contains(text, R"("category":"system")")
         && contains(text, R"("full_update":false)");
}

} // namespace scopebench

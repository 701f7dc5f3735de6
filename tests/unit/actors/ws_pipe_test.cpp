#define CAF_SUITE ws_pipe
// net/listener + net/ws_pipe over real loopback sockets, with a real
// actor system: an echo actor owns each pipe and records what the pipe
// tells it; the test drives a Beast client from its own thread. Every
// client operation is bounded (the test never hangs on a socket).

#include "caf/test/unit_test.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "actors/messages.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "net/listener.hpp"
#include "net/ws_pipe.hpp"

using namespace std::chrono_literals;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using error_code = beast::error_code;
using scopehub::net::ws_pipe;

constexpr auto op_timeout = 5s;

// -- what the actors saw -----------------------------------------------------

/// Events recorded by the echo actors ("frame:hello", "closed:4001:..."),
/// shared with the test thread (a lock is fine in a test).
struct probe {
  std::mutex mx;
  std::condition_variable cv;
  std::vector<std::string> events;
  std::weak_ptr<ws_pipe> pipe; ///< the latest pipe
  scopehub::net::upgrade_info info;

  void add(std::string event) {
    std::lock_guard<std::mutex> guard{mx};
    events.push_back(std::move(event));
    cv.notify_all();
  }

  size_t count(const std::string& prefix) {
    std::lock_guard<std::mutex> guard{mx};
    size_t n = 0;
    for (auto& e : events)
      if (e.compare(0, prefix.size(), prefix) == 0) ++n;
    return n;
  }

  /// Waits until an event starting with `prefix` exists; returns it.
  std::optional<std::string> await(const std::string& prefix,
                                   std::chrono::milliseconds limit = 5s) {
    std::unique_lock<std::mutex> guard{mx};
    std::optional<std::string> found;
    cv.wait_for(guard, limit, [&] {
      for (auto& e : events)
        if (e.compare(0, prefix.size(), prefix) == 0) {
          found = e;
          return true;
        }
      return false;
    });
    return found;
  }
};

/// Echoes text frames; "flood" pushes 64 MiB of 64 KiB frames at once
/// (the same shared buffer each time, as a topic would).
caf::behavior echo_actor(caf::event_based_actor* self,
                         std::weak_ptr<ws_pipe> pipe,
                         std::shared_ptr<probe> p) {
  return {
    [=](scopehub::ws_frame_atom, const std::string& text) {
      p->add("frame:" + text);
      auto out = pipe.lock();
      if (!out) return;
      // "held" frames stay unconsumed: the test plays a session that
      // fell behind and consumes them itself.
      if (text != "held") out->consumed(1);
      if (text == "held") return;
      if (text == "flood") {
        auto chunk = std::make_shared<const std::string>(64 * 1024, 'x');
        for (int i = 0; i < 1024; ++i)
          out->send(chunk);
        return;
      }
      out->send(std::make_shared<const std::string>(text));
    },
    [=](scopehub::ws_binary_atom, uint64_t size) {
      p->add("binary:" + std::to_string(size));
      if (auto out = pipe.lock()) out->consumed(1);
    },
    [=](scopehub::drained_atom, uint64_t bytes) {
      p->add("drained:" + std::to_string(bytes));
    },
    [=](scopehub::alive_atom) { p->add("alive"); },
    [=](scopehub::closed_atom, uint16_t code, const std::string& reason) {
      p->add("closed:" + std::to_string(code) + ":" + reason);
      self->quit();
    },
  };
}

// -- a bounded Beast client --------------------------------------------------

/// Runs `ioc` until the operation that `start` begins completes, or
/// `limit` passes; then closes `stream` and reports timed_out.
template<class Start>
error_code bounded(asio::io_context& ioc, beast::tcp_stream& stream,
                   Start start, std::chrono::milliseconds limit = op_timeout) {
  std::optional<error_code> result;
  start([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!result && std::chrono::steady_clock::now() < deadline)
    if (ioc.run_one_until(deadline) == 0) break;
  if (!result) {
    stream.close();
    ioc.restart();
    ioc.run_for(1s);
    return asio::error::timed_out;
  }
  return *result;
}

/// Error codes as text, so a failed check shows what happened.
std::string str(error_code ec) { return ec ? ec.message() : "ok"; }

const std::string ok = "ok";
const std::string closed = str(websocket::error::closed);

asio::ip::tcp::endpoint local(uint16_t port) {
  return {asio::ip::make_address("127.0.0.1"), port};
}

struct ws_client {
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buf;
  websocket::response_type res;

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(ws); }

  error_code connect(uint16_t port, const std::string& target,
                     const std::string& origin = {}) {
    if (auto ec = bounded(ioc, tcp(),
                          [&](auto h) { tcp().async_connect(local(port), h); }))
      return ec;
    ws.set_option(
      websocket::stream_base::decorator([origin](websocket::request_type& req) {
        if (!origin.empty()) req.set(http::field::origin, origin);
      }));
    return bounded(ioc, tcp(), [&](auto h) {
      ws.async_handshake(res, "127.0.0.1", target, h);
    });
  }

  error_code write(const std::string& data, bool binary = false) {
    ws.binary(binary);
    return bounded(ioc, tcp(),
                   [&](auto h) { ws.async_write(asio::buffer(data), h); });
  }

  error_code read(std::string& out) {
    buf.clear();
    auto ec = bounded(ioc, tcp(), [&](auto h) { ws.async_read(buf, h); });
    out = beast::buffers_to_string(buf.data());
    return ec;
  }

  error_code ping() {
    return bounded(ioc, tcp(), [&](auto h) { ws.async_ping({}, h); });
  }

  error_code close(uint16_t code) {
    return bounded(ioc, tcp(), [&](auto h) {
      ws.async_close(websocket::close_reason{code}, h);
    });
  }
};

/// One plain HTTP exchange per call; the connection is kept between
/// calls (keep-alive).
struct http_client {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buf;

  error_code connect(uint16_t port) {
    return bounded(ioc, stream,
                   [&](auto h) { stream.async_connect(local(port), h); });
  }

  http::response<http::string_body> get(const std::string& target,
                                        http::verb verb = http::verb::get) {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    http::response<http::string_body> res;
    if (bounded(ioc, stream,
                [&](auto h) { http::async_write(stream, req, h); }))
      return res;
    bounded(ioc, stream,
            [&](auto h) { http::async_read(stream, buf, res, h); });
    return res;
  }
};

// -- the server under test ---------------------------------------------------

caf::actor_system_config& small_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", 2);
  return cfg;
}

struct fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{small_config(cfg)};
  std::shared_ptr<probe> p = std::make_shared<probe>();
  std::mutex health_mx;
  std::vector<std::thread> health_threads;
  asio::io_context ioc{1};
  std::unique_ptr<scopehub::net::listener> lst;
  std::thread io;
  uint16_t port = 0;
  std::vector<caf::actor> actors; ///< echo actors, guarded by p->mx

  fixture() {
    scopehub::net::listener_options opts;
    opts.address = "127.0.0.1";
    opts.port = 0;
    opts.ws.write_queue_limit_bytes = 1024 * 1024;
    opts.ws.close_timeout = 1s;
    scopehub::net::http_hooks hooks;
    hooks.on_websocket = [this](std::shared_ptr<ws_pipe> pipe,
                                const scopehub::net::upgrade_info& info) {
      {
        std::lock_guard<std::mutex> guard{p->mx};
        p->pipe = pipe;
        p->info = info;
      }
      p->add("open:" + info.path);
      auto a = sys.spawn(echo_actor, std::weak_ptr<ws_pipe>{pipe}, p);
      std::lock_guard<std::mutex> guard{p->mx};
      actors.push_back(a);
      return a;
    };
    // Answers from another thread, as an actor would.
    hooks.on_health = [this](scopehub::net::health_reply reply) {
      std::lock_guard<std::mutex> guard{health_mx};
      health_threads.emplace_back([reply] {
        reply(200, R"({"status":"ok","version":"test"})");
        reply(500, "ignored: second answer");
      });
    };
    lst = std::make_unique<scopehub::net::listener>(ioc, opts, hooks);
    auto bound = lst->start();
    CAF_REQUIRE(bound);
    port = *bound;
    CAF_REQUIRE_EQUAL(lst->port(), port);
    io = std::thread{[this] { ioc.run(); }};
  }

  ~fixture() {
    lst->stop();
    // The actors first: one that holds a locked pipe while the io_context
    // goes away would destroy the pipe after Beast's services.
    {
      std::lock_guard<std::mutex> guard{p->mx};
      for (auto& a : actors)
        caf::anon_send_exit(a, caf::exit_reason::kill);
      actors.clear();
    }
    sys.await_all_actors_done();
    ioc.stop();
    io.join();
    lst.reset(); // before the io_context; pipes die with the io_context
    std::lock_guard<std::mutex> guard{health_mx};
    for (auto& t : health_threads)
      t.join();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(ws_pipe_tests, fixture)

CAF_TEST(text frames reach the actor and the echo comes back) {
  ws_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port, "/api/ws")), ok);
  CAF_CHECK_EQUAL(std::string(c.res[http::field::server]),
                  "scopehub/" SCOPEHUB_VERSION);
  CAF_REQUIRE_EQUAL(str(c.write("hello")), ok);
  std::string echo;
  CAF_CHECK_EQUAL(str(c.read(echo)), ok);
  CAF_CHECK_EQUAL(echo, "hello");
  CAF_CHECK(p->await("frame:hello"));
  CAF_CHECK_EQUAL(p->await("drained:").value_or(""), "drained:5");
  CAF_MESSAGE("a ping from the client counts as liveness");
  CAF_CHECK_EQUAL(str(c.ping()), ok);
  CAF_CHECK(p->await("alive"));
  CAF_CHECK_EQUAL(lst->counters()->websockets_open.load(), 1u);
  CAF_MESSAGE("a client close reaches the actor once, with its code");
  CAF_CHECK_EQUAL(str(c.close(1000)), ok);
  CAF_CHECK_EQUAL(p->await("closed:").value_or(""), "closed:1000:");
  std::this_thread::sleep_for(100ms);
  CAF_CHECK_EQUAL(p->count("closed:"), 1u);
}

CAF_TEST(the telescope path and the query reach the app) {
  ws_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port, "/api/ws/seestar-001?token=abc&x=1",
                                  "http://localhost")),
                    ok);
  CAF_REQUIRE(p->await("open:"));
  std::lock_guard<std::mutex> guard{p->mx};
  CAF_CHECK_EQUAL(p->info.path, "/api/ws/seestar-001");
  CAF_CHECK_EQUAL(p->info.telescope_id, "seestar-001");
  CAF_CHECK_EQUAL(p->info.query, "token=abc&x=1");
  CAF_CHECK_EQUAL(p->info.headers["origin"], "http://localhost");
  CAF_CHECK_EQUAL(p->info.peer.rfind("127.0.0.1:", 0), 0u);
}

CAF_TEST(a binary frame is reported by its size) {
  ws_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port, "/api/ws")), ok);
  CAF_REQUIRE_EQUAL(str(c.write(std::string(5, '\x01'), true)), ok);
  CAF_CHECK_EQUAL(p->await("binary:").value_or(""), "binary:5");
  CAF_MESSAGE("and the pipe keeps reading");
  CAF_REQUIRE_EQUAL(str(c.write("after")), ok);
  std::string echo;
  CAF_CHECK_EQUAL(str(c.read(echo)), ok);
  CAF_CHECK_EQUAL(echo, "after");
}

CAF_TEST(a message over max_message_size closes with 1009) {
  ws_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port, "/api/ws")), ok);
  CAF_MESSAGE("exactly max_message_size passes");
  const std::string at_limit(64 * 1024, 'a');
  CAF_REQUIRE_EQUAL(str(c.write(at_limit)), ok);
  std::string out;
  CAF_CHECK_EQUAL(str(c.read(out)), ok);
  CAF_CHECK_EQUAL(out.size(), at_limit.size());
  CAF_MESSAGE("one byte more closes, also when split into fragments");
  c.ws.auto_fragment(true);
  c.ws.write_buffer_bytes(4096);
  CAF_CHECK_EQUAL(str(c.write(at_limit + "b")), ok);
  CAF_CHECK_EQUAL(str(c.read(out)), closed);
  CAF_CHECK_EQUAL(c.ws.reason().code, 1009u);
  CAF_CHECK_EQUAL(p->await("closed:").value_or(""),
                  "closed:1009:message too big");
  CAF_CHECK_EQUAL(p->count("frame:"), 1u);
  CAF_CHECK_EQUAL(lst->counters()->closed_too_big.load(), 1u);
}

CAF_TEST(a close from the session reaches the client with code and reason) {
  ws_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port, "/api/ws")), ok);
  CAF_REQUIRE(p->await("open:"));
  std::shared_ptr<ws_pipe> pipe;
  {
    std::lock_guard<std::mutex> guard{p->mx};
    pipe = p->pipe.lock();
  }
  CAF_REQUIRE(pipe != nullptr);
  pipe->close(4001, "heartbeat timeout"); // from a foreign thread
  pipe->send(std::make_shared<const std::string>("dropped after close"));
  pipe.reset(); // the test must not keep the socket alive
  std::string out;
  CAF_CHECK_EQUAL(str(c.read(out)), closed);
  CAF_CHECK_EQUAL(c.ws.reason().code, 4001u);
  CAF_CHECK_EQUAL(
    std::string(c.ws.reason().reason.data(), c.ws.reason().reason.size()),
    "heartbeat timeout");
  CAF_CHECK_EQUAL(p->await("closed:").value_or(""),
                  "closed:4001:heartbeat timeout");
  std::this_thread::sleep_for(100ms);
  CAF_CHECK_EQUAL(p->count("closed:"), 1u);
  CAF_CHECK(p->pipe.expired());
}

CAF_TEST(a slow consumer is closed with 4002 and the actor hears it once) {
  ws_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port, "/api/ws")), ok);
  CAF_REQUIRE_EQUAL(str(c.write("flood")), ok);
  // The client reads nothing until the server has given up on it.
  CAF_CHECK_EQUAL(p->await("closed:", 10s).value_or(""),
                  "closed:4002:slow consumer");
  CAF_CHECK_EQUAL(lst->counters()->closed_slow_consumer.load(), 1u);
  size_t frames = 0;
  error_code ec;
  std::string out;
  while (!(ec = c.read(out)))
    ++frames;
  CAF_MESSAGE("client read " << frames << " frames, then: " << ec.message());
  CAF_CHECK_LESS(frames, 17u); // at most the 1 MiB limit of 64 KiB frames
  if (ec == websocket::error::closed)
    CAF_CHECK_EQUAL(c.ws.reason().code, 4002u);
  else
    CAF_CHECK_NOT_EQUAL(ec, error_code{asio::error::timed_out});
  std::this_thread::sleep_for(200ms);
  CAF_CHECK_EQUAL(p->count("closed:"), 1u);
}

CAF_TEST(a session that falls behind pauses the reads at inbound_window) {
  // The fixture's pipes read at most 32 messages ahead of their session.
  ws_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port, "/api/ws")), ok);
  for (int i = 0; i < 40; ++i)
    CAF_REQUIRE_EQUAL(str(c.write("held")), ok);
  auto held = [&] { return p->count("frame:held"); };
  auto settle = [&](size_t n) {
    for (int i = 0; i < 100 && held() < n; ++i)
      std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(200ms); // and nothing more arrives
  };
  settle(32);
  CAF_CHECK_EQUAL(held(), 32u);
  auto pipe = p->pipe.lock();
  CAF_REQUIRE(pipe);
  pipe->consumed(1);
  settle(33);
  CAF_CHECK_EQUAL(held(), 33u);
  pipe->consumed(40);
  settle(40);
  CAF_CHECK_EQUAL(held(), 40u);
  CAF_CHECK_EQUAL(p->count("closed:"), 0u);
}

CAF_TEST(health answers 200 with the JSON of the hook) {
  http_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port)), ok);
  auto res = c.get("/api/ws/health?verbose=1");
  CAF_CHECK_EQUAL(res.result_int(), 200u);
  CAF_CHECK_EQUAL(std::string(res[http::field::content_type]),
                  "application/json");
  CAF_CHECK_EQUAL(res.body(), R"({"status":"ok","version":"test"})");
  CAF_MESSAGE("the connection stays open for the next request");
  auto again = c.get("/api/ws/health");
  CAF_CHECK_EQUAL(again.result_int(), 200u);
}

CAF_TEST(other requests get JSON errors) {
  http_client c;
  CAF_REQUIRE_EQUAL(str(c.connect(port)), ok);
  auto nope = c.get("/nope?x=1");
  CAF_CHECK_EQUAL(nope.result_int(), 404u);
  CAF_CHECK_EQUAL(
    nope.body(),
    R"({"error_code":"NOT_FOUND","message":"no route for GET /nope"})");
  auto plain = c.get("/api/ws");
  CAF_CHECK_EQUAL(plain.result_int(), 426u);
  CAF_CHECK_EQUAL(std::string(plain[http::field::upgrade]), "websocket");
  CAF_CHECK_EQUAL(c.get("/api/ws/seestar-001").result_int(), 426u);
  CAF_CHECK_EQUAL(c.get("/api/ws/bad%20id").result_int(), 404u);
  CAF_CHECK_EQUAL(c.get("/api/ws/health", http::verb::post).result_int(), 405u);
  CAF_CHECK_EQUAL(c.get("/api/ws", http::verb::delete_).result_int(), 405u);
  CAF_CHECK_EQUAL(lst->counters()->websockets_open.load(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

// scopebench connect-rate: how fast scopehub takes on new subscribed
// WebSocket clients (issue 9).
//
// N connections, at most `--inflight` of them open at once. Each one does
// the whole cycle of a client that comes (back): TCP connect, WebSocket
// upgrade, subscribe to `system` of the bench telescope, wait for the full
// snapshot, then the close handshake. A finished cycle (closed or failed)
// frees its slot for the next connection at once, so the harness keeps
// `--inflight` cycles going until N have started.
//
// The server's connection limiter (limits.connect-rate) exempts loopback
// by default (limits.per-address-exempt), so this measures the server's
// accept, upgrade and subscribe path, not the limiter.

#include "apps/scopebench/scenarios.hpp"

#include <functional>
#include <string>
#include <vector>

#include "apps/scopebench/ws_rig.hpp"

namespace scopebench {

namespace {

/// Where one connection is in its cycle.
enum class stage : char { connecting, upgraded, closing, done };

/// From connect start to the snapshot; past it the cycle fails.
constexpr auto ready_timeout = std::chrono::seconds{10};

/// For the close handshake; past it the close counts as an error.
constexpr auto close_timeout = std::chrono::seconds{2};

} // namespace

std::string run_connect_rate(const options& opts) {
  json_line out;
  out.add("scenario", "connect-rate");
  const size_t n = opts.conns;
  const size_t inflight = std::min(opts.inflight, n);
  out.add("conns", static_cast<uint64_t>(n));
  out.add("inflight", static_cast<uint64_t>(inflight));
  bool exempt = true;
  for (auto& a : opts.server_args)
    if (contains(a, "per-address-exempt") || contains(a, "connect-rate"))
      exempt = false;
  out.add("connect_limiter",
          exempt ? "loopback exempt (limits.per-address-exempt default): "
                   "measures the server, not the limiter"
                 : "see server_args");
  rig r;
  if (auto err = r.start(opts); !err.empty()) {
    out.add("ok", false);
    out.add("error", err);
    return out.str();
  }
  const auto pid = r.server.pid();
  const auto port = r.server.port();

  // Per connection (index i, the warm-up one included).
  std::vector<stage> st;
  std::vector<time_point> t_start;
  // The current phase: start `limit` connections in all, `cap` at once.
  size_t limit = 0;
  size_t cap = 1;
  size_t started = 0;
  size_t live = 0;
  // Counters of the current phase.
  size_t finished = 0;
  size_t completed = 0; ///< got the snapshot
  size_t failed = 0;    ///< connect, upgrade or snapshot failed
  size_t close_errors = 0;
  std::string first_failure;
  std::vector<double> handshake_us, ready_us, close_us;
  time_point t_last{};

  std::function<void()> fill;
  auto release = [&](stage& s) {
    s = stage::done;
    --live;
    ++finished;
    t_last = bench_clock::now();
    fill();
  };
  auto note = [&](const std::string& what) {
    if (first_failure.empty()) first_failure = what;
  };
  auto start_one = [&] {
    const size_t i = started++;
    ++live;
    st.push_back(stage::connecting);
    t_start.push_back(bench_clock::now());
    auto& c = r.add_client();
    c.start_timeout = ready_timeout;
    c.on_open = [&, i](ws_client& c) {
      st[i] = stage::upgraded;
      handshake_us.push_back(micros(bench_clock::now() - t_start[i]));
      c.send(subscribe_frame(c.index));
    };
    c.on_text = [&, i](ws_client& c, std::string_view text) {
      if (st[i] != stage::upgraded || !is_system_snapshot(text)) return;
      const auto t_ready = bench_clock::now();
      ready_us.push_back(micros(t_ready - t_start[i]));
      ++completed;
      st[i] = stage::closing;
      c.stop_reading = true;
      c.close(close_timeout, [&, i, t_ready](error_code ec) {
        if (st[i] != stage::closing) return;
        if (ec) {
          ++close_errors;
          note("close: " + ec.message());
        } else {
          close_us.push_back(micros(bench_clock::now() - t_ready));
        }
        release(st[i]);
      });
    };
    auto base = c.on_error;
    c.on_error = [&, i, base](ws_client& c, const std::string& what) {
      base(c, what);
      if (st[i] == stage::done) return;
      if (st[i] == stage::closing)
        ++close_errors;
      else
        ++failed;
      note(what);
      release(st[i]);
    };
    c.start(port, "/api/ws");
  };
  fill = [&] {
    while (live < cap && started < limit)
      start_one();
  };

  // Warm-up: one cycle, not measured. Its snapshot says the telescope is
  // online, so the measured cycles do not wait for the device's sync.
  limit = 1;
  fill();
  r.run_until([&] { return finished >= 1; }, std::chrono::seconds{15});
  if (completed != 1 || close_errors != 0) {
    out.add("ok", false);
    out.add("error", "warm-up connection failed"
                       + (first_failure.empty() ? "" : ": " + first_failure));
    r.finish();
    return out.str();
  }
  r.run_for(std::chrono::milliseconds{200});
  const long rss_before = proc_rss_kb(pid);

  finished = completed = failed = close_errors = 0;
  first_failure.clear();
  handshake_us.clear();
  ready_us.clear();
  close_us.clear();
  handshake_us.reserve(n);
  ready_us.reserve(n);
  close_us.reserve(n);
  limit = 1 + n;
  cap = inflight;
  const auto server_cpu0 = proc_cpu_seconds(pid);
  cpu_meter cpu;
  cpu.watch_edge(r.edge.pid());
  cpu.start();
  const auto t0 = bench_clock::now();
  fill();
  const auto budget = std::chrono::seconds{30 + n / 50};
  const bool all = r.run_until([&] { return finished >= n; }, budget);
  cpu.stop();
  const auto server_cpu_s = proc_cpu_seconds(pid) - server_cpu0;
  const double wall_s = seconds((all ? t_last : bench_clock::now()) - t0);
  const size_t unfinished = n - finished;
  if (unfinished > 0)
    note(std::to_string(unfinished) + " connections unfinished after "
         + std::to_string(budget.count()) + " s");
  // The server's RSS once the churn is over (a leak per connection shows).
  r.run_for(std::chrono::milliseconds{200});
  const long rss_after = proc_rss_kb(pid);

  const size_t failures = failed + unfinished;
  out.add("completed", static_cast<uint64_t>(completed));
  out.add("failures", static_cast<uint64_t>(failures));
  out.add("close_errors", static_cast<uint64_t>(close_errors));
  out.add("wall_s", wall_s);
  out.add("connects_per_s", wall_s > 0 ? completed / wall_s : 0.0);
  add_latency(out, handshake_us, "handshake_");
  add_latency(out, ready_us, "ready_");
  add_latency(out, close_us, "close_");
  out.add("rss_before_kb", static_cast<double>(rss_before));
  out.add("rss_after_kb", static_cast<double>(rss_after));
  add_cpu(out, cpu, server_cpu_s);
  out.add("client_errors", r.client_errors);
  const bool good = failures == 0 && close_errors == 0 && completed == n;
  out.add("ok", good);
  if (!good)
    out.add("error", first_failure.empty() ? "incomplete" : first_failure);
  r.finish();
  return out.str();
}

} // namespace scopebench

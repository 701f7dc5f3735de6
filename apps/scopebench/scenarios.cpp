#include "apps/scopebench/scenarios.hpp"

#include <charconv>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket.hpp>

#include "apps/scopebench/fake_device.hpp"
#include "apps/scopebench/server_proc.hpp"
#include "apps/scopebench/ws_rig.hpp"

namespace scopebench {

namespace {

/// Results of a subscriber run (fanout and conns).
struct subs_result {
  std::string error;
  size_t connected = 0; ///< subscribers that got their snapshot
  double connect_s = 0; ///< time to connect and subscribe them all
  long rss_before_kb = -1;
  long rss_after_kb = -1;
  uint64_t events = 0;   ///< device events emitted
  uint64_t received = 0; ///< live deltas received, all clients
  uint64_t duplicates = 0;
  std::vector<double> lat_us;
  double window_s = 0; ///< first emit -> last receipt (or drain end)
  cpu_meter cpu;
  double server_cpu_s = 0;
  uint64_t client_errors = 0;
};

/// Connects `n` subscribers, optionally reading RSS around it, then emits
/// `rate` events/s for `duration` s and collects every receipt.
subs_result run_subscribers(const options& opts, size_t n, double rate,
                            double duration, bool measure_rss) {
  subs_result res;
  rig r;
  if (auto err = r.start(opts); !err.empty()) {
    res.error = err;
    return res;
  }
  const auto pid = r.server.pid();
  const auto port = r.server.port();
  if (measure_rss) {
    // The telescope is online once the device answered the six sync reads.
    if (!r.run_until([&] { return r.device.requests() >= 6; },
                     std::chrono::seconds{10})) {
      res.error = "telescope did not sync with the fake device";
      r.finish();
      return res;
    }
    r.run_for(std::chrono::milliseconds{500});
    res.rss_before_kb = proc_rss_kb(pid);
  }
  // Per-subscriber state: ready (snapshot seen) and the last seq seen.
  std::vector<uint64_t> last_seq(n, 0);
  std::vector<char> ready(n, 0);
  const auto total_events = static_cast<uint64_t>(rate * duration + 0.5);
  size_t started = 0;
  size_t failed = 0;
  time_point last_rx{};
  std::function<void()> start_next = [&] {
    if (started >= n) return;
    auto& c = r.add_client();
    ++started;
    c.on_open = [](ws_client& c) { c.send(subscribe_frame(c.index)); };
    c.on_text = [&](ws_client& c, std::string_view text) {
      auto i = c.index;
      if (!ready[i]) {
        if (is_system_snapshot(text)) {
          ready[i] = 1;
          ++res.connected;
          start_next();
        }
        return;
      }
      if (!is_system_delta(text)) return;
      auto seq = number_after(text, R"("temp":)");
      if (!seq || *seq == 0 || *seq > total_events) return;
      auto sent = r.device.emitted_at(*seq);
      if (sent == time_point{}) return;
      if (*seq <= last_seq[i]) {
        ++res.duplicates;
        return;
      }
      last_seq[i] = *seq;
      ++res.received;
      last_rx = bench_clock::now();
      res.lat_us.push_back(micros(last_rx - sent));
    };
    auto base = c.on_error;
    c.on_error = [&, base](ws_client& c, const std::string& what) {
      base(c, what);
      ++failed;
      start_next();
    };
    c.start(port, "/api/ws");
  };
  auto t_connect = bench_clock::now();
  for (size_t i = 0; i < std::min(n, opts.connect_parallel); ++i)
    start_next();
  auto connect_budget = std::chrono::seconds{30 + n / 50};
  r.run_until([&] { return res.connected + failed >= n; }, connect_budget);
  // Stuck clients: subscribed like the others, then never read again.
  size_t stuck = 0;
  for (size_t i = 0; i < opts.slow && res.connected >= n; ++i) {
    auto& c = r.add_client();
    c.receive_buffer = 4096;
    c.on_open = [](ws_client& c) { c.send(subscribe_frame(c.index)); };
    c.on_text = [&](ws_client& c, std::string_view text) {
      if (!is_system_snapshot(text)) return;
      c.stop_reading = true;
      ++stuck;
    };
    c.start(port, "/api/ws");
  }
  r.run_until([&] { return stuck >= opts.slow; }, std::chrono::seconds{10});
  if (stuck < opts.slow && res.connected >= n)
    res.error = "only " + std::to_string(stuck) + " of "
                + std::to_string(opts.slow) + " slow clients subscribed";
  res.connect_s = seconds(bench_clock::now() - t_connect);
  if (res.connected < n) {
    res.error = "only " + std::to_string(res.connected) + " of "
                + std::to_string(n) + " subscribers got their snapshot"
                + (r.error.empty() ? "" : " (first error: " + r.error + ")");
    res.client_errors = r.client_errors;
    r.finish();
    return res;
  }
  if (measure_rss) {
    r.run_for(std::chrono::duration_cast<bench_clock::duration>(
      std::chrono::duration<double>(opts.settle)));
    res.rss_after_kb = proc_rss_kb(pid);
  }
  // Emission on an absolute schedule: a late timer emits what is due.
  res.lat_us.reserve(static_cast<size_t>(total_events) * n);
  const auto period = std::chrono::duration_cast<bench_clock::duration>(
    std::chrono::duration<double>(1.0 / rate));
  asio::steady_timer timer{r.ioc};
  uint64_t next = 1;
  auto t0 = bench_clock::now();
  std::function<void()> tick = [&] {
    auto now = bench_clock::now();
    while (next <= total_events && t0 + period * (next - 1) <= now)
      r.device.emit(next++);
    if (next > total_events) return;
    timer.expires_at(t0 + period * (next - 1));
    timer.async_wait([&](error_code ec) {
      if (!ec) tick();
    });
  };
  auto server_cpu0 = proc_cpu_seconds(pid);
  res.cpu.watch_edge(r.edge.pid());
  res.cpu.start();
  tick();
  const uint64_t expected = total_events * n;
  // Load for `duration`, then at most 3 s for the stragglers.
  auto budget = std::chrono::duration_cast<bench_clock::duration>(
                  std::chrono::duration<double>(duration))
                + std::chrono::seconds{3};
  r.run_until([&] { return next > total_events && res.received >= expected; },
              budget);
  res.cpu.stop();
  res.server_cpu_s = proc_cpu_seconds(pid) - server_cpu0;
  res.events = next - 1;
  res.window_s = last_rx > t0 ? seconds(last_rx - t0) : 0.0;
  res.client_errors = r.client_errors;
  if (res.error.empty() && !r.error.empty()) res.error = r.error;
  if (!measure_rss) res.rss_after_kb = proc_rss_kb(pid);
  r.finish();
  return res;
}

} // namespace

std::string run_fanout(const options& opts) {
  auto res = run_subscribers(opts, opts.subs, opts.rate, opts.duration, false);
  json_line out;
  out.add("scenario", "fanout");
  out.add("subs", static_cast<uint64_t>(opts.subs));
  out.add("slow", static_cast<uint64_t>(opts.slow));
  out.add("server_rss_kb", static_cast<double>(res.rss_after_kb));
  out.add("rate", opts.rate);
  out.add("duration_s", opts.duration);
  out.add("events", res.events);
  const double expected
    = static_cast<double>(res.events) * static_cast<double>(opts.subs);
  out.add("received", res.received);
  out.add("delivered_pct",
          expected > 0 ? 100.0 * res.received / expected : 0.0);
  out.add("duplicates", res.duplicates);
  add_latency(out, res.lat_us, "");
  out.add("updates_per_s",
          res.window_s > 0 ? res.received / res.window_s : 0.0);
  out.add("connect_s", res.connect_s);
  add_cpu(out, res.cpu, res.server_cpu_s);
  out.add("client_errors", res.client_errors);
  out.add("ok", res.error.empty());
  if (!res.error.empty()) out.add("error", res.error);
  return out.str();
}

std::string run_conns(const options& opts) {
  // The hold: 1 event/s, as the issue's "steady 1 update/s" target.
  auto res = run_subscribers(opts, opts.conns, 1.0, opts.duration, true);
  json_line out;
  out.add("scenario", "conns");
  out.add("conns", static_cast<uint64_t>(opts.conns));
  out.add("connected", static_cast<uint64_t>(res.connected));
  out.add("connect_s", res.connect_s);
  out.add("rss_before_kb", static_cast<double>(res.rss_before_kb));
  out.add("rss_after_kb", static_cast<double>(res.rss_after_kb));
  double per = 0;
  if (res.rss_before_kb > 0 && res.rss_after_kb > 0 && opts.conns > 0)
    per = static_cast<double>(res.rss_after_kb - res.rss_before_kb)
          / static_cast<double>(opts.conns);
  out.add("kb_per_conn", per);
  out.add("hold_s", opts.duration);
  out.add("hold_events", res.events);
  const double expected
    = static_cast<double>(res.events) * static_cast<double>(opts.conns);
  out.add("hold_delivered_pct",
          expected > 0 ? 100.0 * res.received / expected : 0.0);
  add_latency(out, res.lat_us, "hold_");
  add_cpu(out, res.cpu, res.server_cpu_s);
  out.add("client_errors", res.client_errors);
  out.add("ok", res.error.empty());
  if (!res.error.empty()) out.add("error", res.error);
  return out.str();
}

std::string run_command(const options& opts) {
  json_line out;
  out.add("scenario", "command");
  out.add("clients", static_cast<uint64_t>(opts.clients));
  out.add("duration_s", opts.duration);
  rig r;
  if (auto err = r.start(opts); !err.empty()) {
    out.add("ok", false);
    out.add("error", err);
    return out.str();
  }
  const auto pid = r.server.pid();
  const auto n = opts.clients;
  // Phases: connect+subscribe (the snapshot says the telescope is online),
  // warm-up (not recorded), measure, then stop sending and drain.
  enum class phase { connecting, warmup, measure, draining };
  phase ph = phase::connecting;
  size_t ready = 0;
  uint64_t sent = 0, ok = 0, failed = 0, measured = 0;
  std::string first_failure;
  std::vector<double> rtt;
  rtt.reserve(1 << 20);
  std::vector<uint64_t> counter(n, 0);
  std::vector<std::string> pending(n);
  std::vector<time_point> sent_at(n);
  std::vector<char> is_ready(n, 0);
  auto send_command = [&](ws_client& c) {
    auto i = c.index;
    auto k = ++counter[i];
    pending[i] = "c" + std::to_string(i) + "-" + std::to_string(k);
    std::string frame
      = R"({"id":")" + pending[i]
        + R"(","type":"control_command","telescope_id":")" + telescope_id
        + R"(","payload":{"action":"set_gain","parameters":{"gain":)"
        + std::to_string(k % 200) + "}}}";
    ++sent;
    sent_at[i] = bench_clock::now();
    c.send(std::move(frame));
  };
  for (size_t i = 0; i < n; ++i) {
    auto& c = r.add_client();
    c.on_open = [](ws_client& c) { c.send(subscribe_frame(c.index)); };
    c.on_text = [&](ws_client& c, std::string_view text) {
      auto i = c.index;
      if (!is_ready[i]) {
        if (is_system_snapshot(text)) {
          is_ready[i] = 1;
          ++ready;
        }
        return;
      }
      if (pending[i].empty()) return;
      // The answer is a command_response naming our id, or an error
      // (RATE_LIMITED, OVERLOADED, ...) whose ref_id is our id.
      bool response = contains(text, R"("type":"command_response")")
                      && contains(text, R"("command_id":")" + pending[i] + '"');
      bool error = !response && contains(text, R"("type":"error")")
                   && contains(text, R"("ref_id":")" + pending[i] + '"');
      if (!response && !error) return;
      auto now = bench_clock::now();
      pending[i].clear();
      if (response && contains(text, R"("success":true)")) {
        ++ok;
        if (ph == phase::measure) {
          ++measured;
          rtt.push_back(micros(now - sent_at[i]));
        }
      } else {
        ++failed;
        if (first_failure.empty())
          first_failure = std::string{text.substr(0, 300)};
      }
      if (ph == phase::warmup || ph == phase::measure) send_command(c);
    };
    c.start(r.server.port(), "/api/ws");
  }
  if (!r.run_until([&] { return ready + r.client_errors >= n; },
                   std::chrono::seconds{30})
      || ready < n) {
    out.add("ok", false);
    out.add("error", "only " + std::to_string(ready) + " of "
                       + std::to_string(n) + " clients got ready"
                       + (r.error.empty() ? "" : ": " + r.error));
    r.finish();
    return out.str();
  }
  const auto warmup = std::chrono::duration_cast<bench_clock::duration>(
    std::chrono::duration<double>(std::min(1.0, opts.duration / 5)));
  const auto measure = std::chrono::duration_cast<bench_clock::duration>(
    std::chrono::duration<double>(opts.duration));
  const auto calls_total0 = r.device.control_calls();
  ph = phase::warmup;
  for (auto& c : r.clients)
    send_command(*c);
  r.run_for(warmup);
  ph = phase::measure;
  const auto calls0 = r.device.control_calls();
  auto server_cpu0 = proc_cpu_seconds(pid);
  cpu_meter cpu;
  cpu.watch_edge(r.edge.pid());
  cpu.start();
  r.run_for(measure);
  cpu.stop();
  auto server_cpu_s = proc_cpu_seconds(pid) - server_cpu0;
  const auto calls_measured = r.device.control_calls() - calls0;
  ph = phase::draining;
  r.run_until(
    [&] {
      for (auto& p : pending)
        if (!p.empty()) return false;
      return true;
    },
    std::chrono::seconds{12});
  const auto calls_total = r.device.control_calls() - calls_total0;
  out.add("commands", measured);
  out.add("commands_per_s", measured / cpu.wall_seconds());
  add_latency(out, rtt, "rtt_");
  out.add("device_calls_in_window", calls_measured);
  out.add("sent_total", sent);
  out.add("ok_total", ok);
  out.add("failed_total", failed);
  out.add("device_calls_total", calls_total);
  add_cpu(out, cpu, server_cpu_s);
  out.add("client_errors", r.client_errors);
  bool good = failed == 0 && r.client_errors == 0 && ok == sent;
  out.add("ok", good);
  if (!first_failure.empty())
    out.add("error", first_failure);
  else if (!r.error.empty())
    out.add("error", r.error);
  else if (ok != sent)
    out.add("error", "unanswered commands");
  r.finish();
  return out.str();
}

} // namespace scopebench

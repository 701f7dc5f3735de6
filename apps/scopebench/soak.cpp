// scopebench soak: many subscribed connections, a steady event stream from
// the fake device and a paced command stream, held for a long time, with
// the server's RSS sampled along the way (issue 10). bench/README.md
// ("Soak") documents the fields.
//
// Everything the harness keeps is bounded whatever the run length: per
// connection state is fixed, latencies go into fixed-size histograms,
// commands in flight are capped per client, and the RSS samples are one
// per --sample seconds.

#include "apps/scopebench/scenarios.hpp"

#include <array>
#include <cstdio>
#include <unordered_map>

#include <boost/asio/steady_timer.hpp>

#include "apps/scopebench/ws_rig.hpp"

namespace scopebench {

namespace {

/// Microsecond latencies in a log-linear histogram: exact below 64 us,
/// then 32 buckets per power of two (a bucket's midpoint is within 1.6%
/// of any value in it), up to 2^41 us. Fixed size (1,184 buckets).
class histogram {
 public:
  void add(double us) {
    auto v = us <= 0 ? uint64_t{0} : static_cast<uint64_t>(us);
    ++counts_[index(v)];
    ++n_;
    if (us > max_) max_ = us;
  }

  uint64_t count() const { return n_; }

  double max() const { return max_; }

  /// Nearest-rank percentile `p` (0..100), as its bucket's midpoint.
  double percentile(double p) const {
    if (n_ == 0) return 0;
    auto rank = static_cast<uint64_t>(p / 100.0 * static_cast<double>(n_));
    if (rank >= n_) rank = n_ - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen > rank) return std::min(midpoint(i), max_);
    }
    return max_;
  }

  void clear() { *this = histogram{}; }

 private:
  static constexpr size_t linear = 64; // 2^6: exact microseconds below
  static constexpr int first_exp = 6;
  static constexpr int last_exp = 40;
  static constexpr int sub_bits = 5; // 32 buckets per power of two
  static constexpr size_t size
    = linear + (last_exp - first_exp + 1) * (size_t{1} << sub_bits);

  static size_t index(uint64_t v) {
    if (v < linear) return static_cast<size_t>(v);
    int e = 63 - __builtin_clzll(v);
    if (e > last_exp) {
      e = last_exp;
      v = (uint64_t{1} << (last_exp + 1)) - 1;
    }
    auto sub = (v >> (e - sub_bits)) & ((uint64_t{1} << sub_bits) - 1);
    return linear + static_cast<size_t>(e - first_exp) * (1u << sub_bits)
           + static_cast<size_t>(sub);
  }

  static double midpoint(size_t i) {
    if (i < linear) return static_cast<double>(i) + 0.5;
    auto k = i - linear;
    int e = first_exp + static_cast<int>(k >> sub_bits);
    auto sub = static_cast<uint64_t>(k & ((1u << sub_bits) - 1));
    auto width = uint64_t{1} << (e - sub_bits);
    auto low = ((uint64_t{1} << sub_bits) + sub) * width;
    return static_cast<double>(low) + static_cast<double>(width) / 2;
  }

  std::array<uint64_t, size> counts_{};
  uint64_t n_ = 0;
  double max_ = 0;
};

/// A command client: its next id number and the commands in flight.
struct commander {
  uint64_t counter = 0;
  std::unordered_map<uint64_t, time_point> inflight; ///< k -> sent at
};

/// Commands a client may have unanswered (the server's default
/// max-pending-commands is 64); when it is reached, a due command is
/// skipped and counted (commands_skipped: the server fell behind the
/// pace) instead of queued.
constexpr size_t max_inflight = 64;

/// The client number j and command number k of the id `c<j>-<k>` that
/// follows `key` in `text`.
std::optional<std::pair<uint64_t, uint64_t>> command_ref(std::string_view text,
                                                         std::string_view key) {
  auto pos = text.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  const char* p = text.data() + pos + key.size();
  const char* end = text.data() + text.size();
  uint64_t j = 0, k = 0;
  auto r1 = std::from_chars(p, end, j);
  if (r1.ec != std::errc{} || r1.ptr == end || *r1.ptr != '-')
    return std::nullopt;
  auto r2 = std::from_chars(r1.ptr + 1, end, k);
  if (r2.ec != std::errc{}) return std::nullopt;
  return std::make_pair(j, k);
}

bench_clock::duration to_duration(double s) {
  return std::chrono::duration_cast<bench_clock::duration>(
    std::chrono::duration<double>(s));
}

} // namespace

std::string run_soak(const options& opts) {
  json_line out;
  out.add("scenario", "soak");
  const size_t n = opts.conns;
  const size_t nc = opts.clients;
  out.add("conns", static_cast<uint64_t>(n));
  out.add("command_clients", static_cast<uint64_t>(nc));
  out.add("rate", opts.rate);
  out.add("command_rate", opts.command_rate);
  out.add("duration_s", opts.duration);
  auto fail = [&](const std::string& why) {
    out.add("ok", false);
    out.add("error", why);
    return out.str();
  };
  rig r;
  if (auto err = r.start(opts); !err.empty()) return fail(err);
  const auto pid = r.server.pid();
  const auto port = r.server.port();
  // The telescope is online once the device answered the six sync reads.
  if (!r.run_until([&] { return r.device.requests() >= 6; },
                   std::chrono::seconds{10})) {
    r.finish();
    return fail("telescope did not sync with the fake device");
  }
  r.run_for(std::chrono::milliseconds{500});
  const long rss_idle_kb = proc_rss_kb(pid);

  // -- subscribers: clients 0 .. n-1 ----------------------------------------
  enum class phase { connecting, load, draining };
  phase ph = phase::connecting;
  std::vector<uint64_t> last_seq(n, 0);
  std::vector<char> ready(n, 0);
  size_t connected = 0, connect_failed = 0, started = 0;
  uint64_t disconnects = 0, duplicates = 0, gaps = 0;
  uint64_t received = 0, window_received = 0;
  uint64_t next_event = 1; // sequence number of the next device event
  histogram upd_lat, upd_window;
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
          ++connected;
          start_next();
        }
        return;
      }
      if (!is_system_delta(text)) return;
      auto seq = number_after(text, R"("temp":)");
      if (!seq || *seq == 0 || *seq >= next_event) return;
      auto sent = r.device.emitted_at(*seq);
      if (sent == time_point{}) return;
      if (*seq <= last_seq[i]) {
        ++duplicates;
        return;
      }
      if (*seq > last_seq[i] + 1) gaps += *seq - last_seq[i] - 1;
      last_seq[i] = *seq;
      ++received;
      ++window_received;
      auto us = micros(bench_clock::now() - sent);
      upd_lat.add(us);
      upd_window.add(us);
    };
    auto base = c.on_error;
    c.on_error = [&, base](ws_client& c, const std::string& what) {
      base(c, what);
      if (ready[c.index]) {
        ++disconnects;
        return;
      }
      ++connect_failed;
      if (ph == phase::connecting) start_next();
    };
    c.start(port, "/api/ws");
  };
  auto t_connect = bench_clock::now();
  for (size_t i = 0; i < std::min(n, opts.connect_parallel); ++i)
    start_next();
  r.run_until([&] { return connected + connect_failed >= n; },
              std::chrono::seconds{30 + n / 50});
  const double connect_s = seconds(bench_clock::now() - t_connect);
  out.add("connected", static_cast<uint64_t>(connected));
  out.add("connect_s", connect_s);
  if (connected < n) {
    out.add("client_errors", r.client_errors);
    r.finish();
    return fail("only " + std::to_string(connected) + " of " + std::to_string(n)
                + " subscribers got their snapshot"
                + (r.error.empty() ? "" : " (first error: " + r.error + ")"));
  }

  // -- command clients: clients n .. n+nc-1 ---------------------------------
  std::vector<commander> cmds(nc);
  std::vector<char> cmd_ready(nc, 0);
  size_t cmd_ready_count = 0;
  uint64_t commands_sent = 0, commands_ok = 0, commands_failed = 0;
  uint64_t commands_skipped = 0, window_ok = 0;
  std::string first_failure;
  histogram cmd_lat, cmd_window;
  for (size_t j = 0; j < nc; ++j) {
    auto& c = r.add_client();
    c.on_open = [](ws_client& c) { c.send(subscribe_frame(c.index)); };
    c.on_text = [&, j](ws_client&, std::string_view text) {
      if (!cmd_ready[j]) {
        if (is_system_snapshot(text)) {
          cmd_ready[j] = 1;
          ++cmd_ready_count;
        }
        return;
      }
      // The answer is a command_response naming our id, or an error
      // (RATE_LIMITED, OVERLOADED, ...) whose ref_id is our id.
      std::optional<std::pair<uint64_t, uint64_t>> ref;
      bool response = contains(text, R"("type":"command_response")");
      if (response)
        ref = command_ref(text, R"("command_id":"c)");
      else if (contains(text, R"("type":"error")"))
        ref = command_ref(text, R"("ref_id":"c)");
      if (!ref || ref->first != j) return;
      auto& cm = cmds[j];
      auto it = cm.inflight.find(ref->second);
      if (it == cm.inflight.end()) return;
      auto us = micros(bench_clock::now() - it->second);
      cm.inflight.erase(it);
      if (response && contains(text, R"("success":true)")) {
        ++commands_ok;
        ++window_ok;
        cmd_lat.add(us);
        cmd_window.add(us);
      } else {
        ++commands_failed;
        if (first_failure.empty())
          first_failure = std::string{text.substr(0, 300)};
      }
    };
    auto base = c.on_error;
    c.on_error = [&, base, j](ws_client& c, const std::string& what) {
      base(c, what);
      if (cmd_ready[j]) ++disconnects;
    };
    c.start(port, "/api/ws");
  }
  if (!r.run_until([&] { return cmd_ready_count >= nc || r.client_errors > 0; },
                   std::chrono::seconds{30})
      || cmd_ready_count < nc) {
    out.add("client_errors", r.client_errors);
    r.finish();
    return fail("only " + std::to_string(cmd_ready_count) + " of "
                + std::to_string(nc) + " command clients got ready"
                + (r.error.empty() ? "" : ": " + r.error));
  }
  auto send_command = [&](size_t j) {
    auto& c = *r.clients[n + j];
    auto& cm = cmds[j];
    if (!c.is_open()) return;
    if (cm.inflight.size() >= max_inflight) {
      ++commands_skipped;
      return;
    }
    auto k = ++cm.counter;
    std::string frame
      = R"({"id":"c)" + std::to_string(j) + "-" + std::to_string(k)
        + R"(","type":"control_command","telescope_id":")" + telescope_id
        + R"(","payload":{"action":"set_gain","parameters":{"gain":)"
        + std::to_string(k % 200) + "}}}";
    ++commands_sent;
    cm.inflight.emplace(k, bench_clock::now());
    c.send(std::move(frame));
  };

  // -- the load: events, commands, samples, each on an absolute schedule ----
  const auto t0 = bench_clock::now();
  const auto end = t0 + to_duration(opts.duration);
  const double warmup_s
    = opts.warmup >= 0 ? opts.warmup : std::max(10.0, opts.duration / 10);
  ph = phase::load;
  const auto event_period = to_duration(1.0 / opts.rate);
  asio::steady_timer event_timer{r.ioc};
  std::function<void()> event_tick = [&] {
    auto now = bench_clock::now();
    while (ph == phase::load && t0 + event_period * (next_event - 1) <= now
           && t0 + event_period * (next_event - 1) < end)
      r.device.emit(next_event++);
    if (ph != phase::load) return;
    event_timer.expires_at(t0 + event_period * (next_event - 1));
    event_timer.async_wait([&](error_code ec) {
      if (!ec) event_tick();
    });
  };
  // Command m goes to client m % nc: the clients take turns, each at
  // command_rate/s, together at nc * command_rate/s.
  const auto cmd_period = to_duration(1.0 / (opts.command_rate * nc));
  uint64_t next_cmd = 0;
  asio::steady_timer cmd_timer{r.ioc};
  std::function<void()> cmd_tick = [&] {
    auto now = bench_clock::now();
    while (ph == phase::load && t0 + cmd_period * next_cmd <= now
           && t0 + cmd_period * next_cmd < end) {
      send_command(static_cast<size_t>(next_cmd % nc));
      ++next_cmd;
    }
    if (ph != phase::load) return;
    cmd_timer.expires_at(t0 + cmd_period * next_cmd);
    cmd_timer.async_wait([&](error_code ec) {
      if (!ec) cmd_tick();
    });
  };
  // RSS samples: [t_s, rss_kb] every `sample` s, plus one after the drain.
  std::vector<std::pair<double, long>> samples;
  samples.reserve(static_cast<size_t>(opts.duration / opts.sample) + 2);
  uint64_t last_errors = 0;
  auto take_sample = [&] {
    auto t = seconds(bench_clock::now() - t0);
    auto rss = proc_rss_kb(pid);
    samples.emplace_back(t, rss);
    auto errors = r.client_errors + commands_failed;
    std::fprintf(stderr,
                 "soak t=%5.0fs rss=%7.1f MiB (%+6.1f) updates +%llu p50 %.0f "
                 "p99 %.0f us | commands +%llu p50 %.0f p99 %.0f us | errors "
                 "+%llu disconnects %llu\n",
                 t, static_cast<double>(rss) / 1024,
                 static_cast<double>(rss - samples.front().second) / 1024,
                 static_cast<unsigned long long>(window_received),
                 upd_window.percentile(50), upd_window.percentile(99),
                 static_cast<unsigned long long>(window_ok),
                 cmd_window.percentile(50), cmd_window.percentile(99),
                 static_cast<unsigned long long>(errors - last_errors),
                 static_cast<unsigned long long>(disconnects));
    last_errors = errors;
    window_received = 0;
    window_ok = 0;
    upd_window.clear();
    cmd_window.clear();
  };
  const auto sample_period = to_duration(opts.sample);
  uint64_t sample_no = 0;
  asio::steady_timer sample_timer{r.ioc};
  std::function<void()> sample_tick = [&] {
    if (ph != phase::load) return;
    if (sample_no > 0) take_sample();
    ++sample_no;
    auto at = t0 + sample_period * sample_no;
    if (at >= end) return; // the last one comes after the drain
    sample_timer.expires_at(at);
    sample_timer.async_wait([&](error_code ec) {
      if (!ec) sample_tick();
    });
  };
  samples.emplace_back(0.0, proc_rss_kb(pid));
  auto server_cpu0 = proc_cpu_seconds(pid);
  cpu_meter cpu;
  cpu.watch_edge(r.edge.pid());
  cpu.start();
  event_tick();
  cmd_tick();
  sample_tick();
  r.run_until([&] { return bench_clock::now() >= end; },
              end - bench_clock::now());
  // Stop sending, then wait (at most 15 s) for every update of every
  // event to reach every subscriber and for every command's answer.
  ph = phase::draining;
  event_timer.cancel();
  cmd_timer.cancel();
  sample_timer.cancel();
  const uint64_t events = next_event - 1;
  const uint64_t expected = events * n;
  auto all_answered = [&] {
    for (auto& cm : cmds)
      if (!cm.inflight.empty()) return false;
    return true;
  };
  auto t_drain = bench_clock::now();
  r.run_until([&] { return received >= expected && all_answered(); },
              std::chrono::seconds{15});
  const double drain_s = seconds(bench_clock::now() - t_drain);
  cpu.stop();
  const double server_cpu_s = proc_cpu_seconds(pid) - server_cpu0;
  take_sample();
  uint64_t unanswered = 0;
  for (auto& cm : cmds)
    unanswered += cm.inflight.size();

  // -- the report -------------------------------------------------------------
  std::string rss_json = "[";
  for (auto& [t, kb] : samples) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%s[%.1f,%ld]",
                  rss_json.size() > 1 ? "," : "", t, kb);
    rss_json += buf;
  }
  rss_json += "]";
  // The first sample at or after the warm-up (the last one at worst).
  auto first = samples.back();
  for (auto& s : samples)
    if (s.first >= warmup_s) {
      first = s;
      break;
    }
  const auto last = samples.back();
  const long growth = last.second - first.second;
  out.add("rss_idle_kb", static_cast<double>(rss_idle_kb));
  out.add("warmup_s", warmup_s);
  out.add("rss_first_t_s", first.first);
  out.add("rss_first_kb", static_cast<double>(first.second));
  out.add("rss_last_kb", static_cast<double>(last.second));
  out.add("rss_growth_kb", static_cast<double>(growth));
  out.add("rss_growth_pct", first.second > 0
                              ? 100.0 * static_cast<double>(growth)
                                  / static_cast<double>(first.second)
                              : 0.0);
  long rss_max = 0;
  for (auto& s : samples)
    rss_max = std::max(rss_max, s.second);
  out.add("rss_max_kb", static_cast<double>(rss_max));
  out.add("events", events);
  out.add("updates_expected", expected);
  out.add("updates_received", received);
  out.add("delivered_pct", expected > 0 ? 100.0 * static_cast<double>(received)
                                            / static_cast<double>(expected)
                                        : 0.0);
  out.add("duplicates", duplicates);
  out.add("gaps", gaps);
  out.add("update_p50_us", upd_lat.percentile(50));
  out.add("update_p99_us", upd_lat.percentile(99));
  out.add("update_max_us", upd_lat.max());
  out.add("commands_sent", commands_sent);
  out.add("commands_ok", commands_ok);
  out.add("commands_failed", commands_failed);
  out.add("commands_skipped", commands_skipped);
  out.add("commands_unanswered", unanswered);
  out.add("command_p50_us", cmd_lat.percentile(50));
  out.add("command_p99_us", cmd_lat.percentile(99));
  out.add("command_max_us", cmd_lat.max());
  out.add("drain_s", drain_s);
  out.add("harness_cores", cpu.cores());
  out.add("server_cores",
          cpu.wall_seconds() > 0 ? server_cpu_s / cpu.wall_seconds() : 0.0);
  add_edge(out, cpu);
  out.add("client_errors", r.client_errors);
  out.add("disconnects", disconnects);
  std::string error;
  if (r.client_errors > 0)
    error = "client error: " + r.error;
  else if (!first_failure.empty())
    error = "command failed: " + first_failure;
  else if (commands_ok != commands_sent)
    error = std::to_string(unanswered) + " commands unanswered";
  else if (received != expected || duplicates > 0)
    error = "updates: " + std::to_string(received) + " of "
            + std::to_string(expected) + " received, "
            + std::to_string(duplicates) + " duplicates";
  out.add("ok", error.empty());
  if (!error.empty()) out.add("error", error);
  out.add_raw("rss_samples", rss_json);
  r.finish();
  return out.str();
}

} // namespace scopebench

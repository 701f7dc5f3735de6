#pragma once

// scopebench: what every part shares. One steady clock for the device and
// the clients (they run on one thread), percentiles, CPU time.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace scopebench {

using bench_clock = std::chrono::steady_clock;
using time_point = bench_clock::time_point;

/// Command line of one run (apps/scopebench.cpp documents every flag).
struct options {
  std::string scenario;
  std::string server = "build/release/apps/scopehub";
  std::string server_log = "/dev/null";
  std::vector<std::string> server_args; ///< extra flags for scopehub
  std::string host = "127.0.0.1";
  size_t subs = 100;             ///< fanout subscribers
  size_t slow = 0;               ///< fanout subscribers that stop reading
  double rate = 20;              ///< device events per second
  double duration = 5;           ///< seconds of load
  size_t clients = 1;            ///< command clients
  size_t conns = 1000;           ///< idle subscribed connections
  double settle = 2;             ///< seconds before the "after" RSS reading
  size_t connect_parallel = 128; ///< handshakes in flight while connecting
  size_t inflight = 64;          ///< connect-rate: cycles open at once
  double command_rate = 20;      ///< soak: commands/s per command client
  double sample = 5;             ///< soak: seconds between RSS samples
  double warmup = -1; ///< soak: first RSS sample time (<0: max(10, D/10))
  bool farm = false;  ///< clients -> gateway -> edge -> device (farm.hpp)
};

/// Microseconds as a double.
inline double micros(bench_clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

/// Seconds as a double.
inline double seconds(bench_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

/// Percentile `p` (0..100) of `xs` (nearest rank); sorts xs.
inline double percentile(std::vector<double>& xs, double p) {
  if (xs.empty()) return 0;
  std::sort(xs.begin(), xs.end());
  auto rank = static_cast<size_t>(p / 100.0 * static_cast<double>(xs.size()));
  if (rank >= xs.size()) rank = xs.size() - 1;
  return xs[rank];
}

/// CPU seconds (user + system) this process used so far.
double self_cpu_seconds();

/// CPU seconds (user + system) of process `pid` from /proc, or -1.
double proc_cpu_seconds(int pid);

/// VmRSS of process `pid` in KiB from /proc, or -1.
long proc_rss_kb(int pid);

/// Measures this process's CPU share over a window (and, with --farm, the
/// edge's CPU share and its RSS at the end of the window).
class cpu_meter {
 public:
  /// Also measure the farm edge `pid` (no-op for pid <= 0); before start().
  void watch_edge(int pid) { edge_pid_ = pid; }
  void start();
  void stop();
  double cpu_seconds() const { return cpu_; }
  double wall_seconds() const { return wall_; }
  /// Cores used on average (1.0 = one core busy all the time).
  double cores() const { return wall_ > 0 ? cpu_ / wall_ : 0; }
  /// True when the harness itself used more than 80% of a core.
  bool harness_bound() const { return cores() > 0.8; }
  bool has_edge() const { return edge_pid_ > 0; }
  /// The edge's cores over the window, and its VmRSS at stop().
  double edge_cores() const { return wall_ > 0 ? edge_cpu_ / wall_ : 0; }
  long edge_rss_kb() const { return edge_rss_kb_; }

 private:
  int edge_pid_ = -1;
  double edge_cpu0_ = 0;
  double edge_cpu_ = 0;
  long edge_rss_kb_ = -1;
  double cpu0_ = 0;
  time_point t0_;
  double cpu_ = 0;
  double wall_ = 0;
};

/// Small builder for the one JSON line each scenario prints.
class json_line {
 public:
  json_line& add(const char* key, const std::string& value);
  json_line& add(const char* key, const char* value);
  json_line& add(const char* key, double value);
  json_line& add(const char* key, uint64_t value);
  json_line& add(const char* key, bool value);
  /// `json` as is (an array or object the caller built).
  json_line& add_raw(const char* key, const std::string& json);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(const char* k);
  std::string body_;
};

/// `<prefix>p50_us`, `p90_us`, `p99_us` and `max_us` of `lat` (sorts it).
void add_latency(json_line& out, std::vector<double>& lat, const char* prefix);

/// `harness_cpu_s`, `harness_cores`, `server_cores` (the server's CPU
/// seconds over the meter's wall time; with --farm the gateway's),
/// `harness_bound`, and with --farm `edge_cores` and `edge_rss_kb`.
void add_cpu(json_line& out, const cpu_meter& cpu, double server_cpu_s);

/// With --farm: `edge_cores` and `edge_rss_kb` (the edge process); else
/// nothing.
void add_edge(json_line& out, const cpu_meter& cpu);

} // namespace scopebench

#include "apps/scopebench/common.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <sys/resource.h>
#include <unistd.h>

namespace scopebench {

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

double proc_cpu_seconds(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text;
  if (!std::getline(in, text)) return -1;
  // Fields after the command name (which may hold spaces) start at ") ".
  auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest{text.substr(close + 2)};
  std::string field;
  unsigned long long utime = 0, stime = 0;
  // state is field 3; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime)
         / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long proc_rss_kb(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 6, "VmRSS:") == 0) return std::stol(line.substr(6));
  return -1;
}

void cpu_meter::start() {
  if (edge_pid_ > 0) edge_cpu0_ = proc_cpu_seconds(edge_pid_);
  cpu0_ = self_cpu_seconds();
  t0_ = bench_clock::now();
}

void cpu_meter::stop() {
  cpu_ = self_cpu_seconds() - cpu0_;
  wall_ = seconds(bench_clock::now() - t0_);
  if (edge_pid_ > 0) {
    edge_cpu_ = proc_cpu_seconds(edge_pid_) - edge_cpu0_;
    edge_rss_kb_ = proc_rss_kb(edge_pid_);
  }
}

void json_line::key(const char* k) {
  if (!body_.empty()) body_ += ',';
  body_ += '"';
  body_ += k;
  body_ += "\":";
}

json_line& json_line::add(const char* k, const std::string& value) {
  key(k);
  body_ += '"';
  for (char c : value) {
    if (c == '"' || c == '\\') body_ += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      body_ += ' ';
      continue;
    }
    body_ += c;
  }
  body_ += '"';
  return *this;
}

json_line& json_line::add(const char* k, const char* value) {
  return add(k, std::string{value});
}

json_line& json_line::add(const char* k, double value) {
  key(k);
  if (!std::isfinite(value)) {
    body_ += "null";
    return *this;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.4g", value);
  // %.4g keeps 4 significant digits; big counts need %.0f.
  if (std::fabs(value) >= 1e4) std::snprintf(buf, sizeof(buf), "%.0f", value);
  body_ += buf;
  return *this;
}

json_line& json_line::add(const char* k, uint64_t value) {
  key(k);
  body_ += std::to_string(value);
  return *this;
}

json_line& json_line::add(const char* k, bool value) {
  key(k);
  body_ += value ? "true" : "false";
  return *this;
}

json_line& json_line::add_raw(const char* k, const std::string& json) {
  key(k);
  body_ += json;
  return *this;
}

void add_latency(json_line& out, std::vector<double>& lat, const char* prefix) {
  auto key = [&](const char* k) { return std::string{prefix} + k; };
  std::string p50 = key("p50_us"), p90 = key("p90_us"), p99 = key("p99_us"),
              mx = key("max_us");
  out.add(p50.c_str(), percentile(lat, 50));
  out.add(p90.c_str(), percentile(lat, 90));
  out.add(p99.c_str(), percentile(lat, 99));
  out.add(mx.c_str(), lat.empty() ? 0.0 : lat.back());
}

void add_cpu(json_line& out, const cpu_meter& cpu, double server_cpu_s) {
  out.add("harness_cpu_s", cpu.cpu_seconds());
  out.add("harness_cores", cpu.cores());
  out.add("server_cores",
          cpu.wall_seconds() > 0 ? server_cpu_s / cpu.wall_seconds() : 0.0);
  out.add("harness_bound", cpu.harness_bound());
  add_edge(out, cpu);
}

void add_edge(json_line& out, const cpu_meter& cpu) {
  if (!cpu.has_edge()) return;
  out.add("edge_cores", cpu.edge_cores());
  out.add("edge_rss_kb", static_cast<double>(cpu.edge_rss_kb()));
}

} // namespace scopebench

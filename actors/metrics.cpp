#include "actors/metrics.hpp"

#include <algorithm>
#include <cstdio>

#include "actors/features.hpp"
#include "net/net_counters.hpp"

namespace scopehub::metrics {

namespace {

constexpr auto relaxed = std::memory_order_relaxed;

const char* message_name(size_t i) {
  static constexpr const char* names[]
    = {"control_command", "subscribe", "unsubscribe", "heartbeat", "invalid"};
  return names[i];
}

const char* out_name(size_t i) {
  static constexpr const char* names[] = {"status_update",
                                          "telescope_discovered",
                                          "telescope_lost",
                                          "command_response",
                                          "command_progress",
                                          "heartbeat",
                                          "error"};
  return names[i];
}

const char* transport_name(size_t i) {
  static constexpr const char* names[] = {"websocket", "sse", "http"};
  return names[i];
}

/// Writes one metric family: HELP and TYPE lines.
void family(std::string& out, const char* name, const char* type,
            const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const char* name, const std::string& labels,
            double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  out += name;
  if (!labels.empty()) {
    out += '{';
    out += labels;
    out += '}';
  }
  out += ' ';
  out += buf;
  out += '\n';
}

template<class T>
void single(std::string& out, const char* name, const char* type,
            const char* help, T value) {
  family(out, name, type, help);
  sample(out, name, {}, static_cast<double>(value));
}

} // namespace

const char* to_string(transport t) noexcept {
  return transport_name(static_cast<size_t>(t));
}

registry& global() noexcept {
  static registry r;
  return r;
}

void count_message(message_in kind) noexcept {
  global().messages_in[static_cast<size_t>(kind)].fetch_add(1, relaxed);
}

void count_out(message_out kind) noexcept {
  global().messages_out[static_cast<size_t>(kind)].fetch_add(1, relaxed);
}

void count_session(transport t, int delta) noexcept {
  auto i = static_cast<size_t>(t);
  if (delta > 0) global().sessions_total[i].fetch_add(1, relaxed);
  global().sessions_open[i].fetch_add(delta, relaxed);
}

void observe_fanout(int64_t ns) noexcept {
  if (ns < 0) return;
  auto& r = global();
  const double s = static_cast<double>(ns) / 1e9;
  size_t b = 0;
  while (b < fanout_buckets.size() && s > fanout_buckets[b])
    ++b;
  r.fanout_counts[b].fetch_add(1, relaxed);
  r.fanout_sum_ns.fetch_add(static_cast<uint64_t>(ns), relaxed);
}

/// A histogram family from cumulative-able bucket counts.
template<size_t N, class Counts>
void histogram(std::string& out, const char* name, const char* help,
               const std::array<double, N>& bounds, const Counts& counts,
               double sum) {
  family(out, name, "histogram", help);
  const std::string bucket = std::string{name} + "_bucket";
  uint64_t cumulative = 0;
  for (size_t b = 0; b < counts.size(); ++b) {
    cumulative += counts[b].load(relaxed);
    char le[32];
    if (b < bounds.size())
      std::snprintf(le, sizeof(le), "le=\"%g\"", bounds[b]);
    else
      std::snprintf(le, sizeof(le), "le=\"+Inf\"");
    sample(out, bucket.c_str(), le, static_cast<double>(cumulative));
  }
  sample(out, (std::string{name} + "_sum").c_str(), {}, sum);
  sample(out, (std::string{name} + "_count").c_str(), {},
         static_cast<double>(cumulative));
}

void count_command(protocol::action a, const protocol::error_code* code,
                   int64_t duration_ms) noexcept {
  auto& r = global();
  auto i = static_cast<size_t>(a);
  if (i >= protocol::action_count) return;
  size_t outcome = code ? 1 + static_cast<size_t>(*code) : 0;
  if (outcome > protocol::error_code_count) return;
  r.commands[i][outcome].fetch_add(1, relaxed);
  if (duration_ms < 0
      || !features::enabled(features::flag::performance_metrics))
    return;
  const double s = static_cast<double>(duration_ms) / 1000.0;
  size_t b = 0;
  while (b < duration_buckets.size() && s > duration_buckets[b])
    ++b;
  r.duration_counts[b].fetch_add(1, relaxed);
  r.duration_sum_us.fetch_add(static_cast<uint64_t>(duration_ms) * 1000,
                              relaxed);
}

void count_close(uint16_t code) noexcept {
  auto& r = global();
  size_t i = 0;
  while (i + 1 < close_codes.size() && close_codes[i] != code)
    ++i;
  r.closes[i].fetch_add(1, relaxed);
}

void add_backlog(int64_t delta, int64_t session_max) noexcept {
  auto& r = global();
  r.backlog_bytes.fetch_add(delta, relaxed);
  auto seen = r.backlog_max_bytes.load(relaxed);
  while (
    session_max > seen
    && !r.backlog_max_bytes.compare_exchange_weak(seen, session_max, relaxed)) {
    // retry with the value another session stored
  }
}

std::string render(const registry& r, const net::net_counters* net,
                   const telescope_counts& scopes) {
  std::string out;
  out.reserve(8192);
  family(out, "scopehub_sessions_open", "gauge",
         "Client sessions open right now, by transport.");
  for (size_t i = 0; i < r.sessions_open.size(); ++i)
    sample(out, "scopehub_sessions_open",
           std::string{"transport=\""} + transport_name(i) + "\"",
           static_cast<double>(
             std::max<int64_t>(0, r.sessions_open[i].load(relaxed))));
  family(out, "scopehub_sessions_total", "counter",
         "Client sessions opened since start, by transport.");
  for (size_t i = 0; i < r.sessions_total.size(); ++i)
    sample(out, "scopehub_sessions_total",
           std::string{"transport=\""} + transport_name(i) + "\"",
           static_cast<double>(r.sessions_total[i].load(relaxed)));
  family(out, "scopehub_messages_out_total", "counter",
         "Server messages handed to clients, by type.");
  for (size_t i = 0; i < r.messages_out.size(); ++i)
    sample(out, "scopehub_messages_out_total",
           std::string{"type=\""} + out_name(i) + "\"",
           static_cast<double>(r.messages_out[i].load(relaxed)));
  histogram(out, "scopehub_fanout_delivery_seconds",
            "Time from a topic's publish of a status update to its hand-off "
            "to a subscriber's connection (performance_metrics flag).",
            fanout_buckets, r.fanout_counts,
            static_cast<double>(r.fanout_sum_ns.load(relaxed)) / 1e9);
  single(out, "scopehub_device_reconnects_total", "counter",
         "Connection attempts to telescope devices after the first one.",
         r.device_reconnects.load(relaxed));
  single(out, "scopehub_farm_links_up", "gauge",
         "Farm node links up: a gateway's linked edges, an edge's linked "
         "gateways (0 standalone).",
         r.farm_links_up.load(relaxed));
  single(out, "scopehub_farm_links_lost_total", "counter",
         "Edges a gateway lost (node down or link silent).",
         r.farm_links_lost.load(relaxed));
  family(out, "scopehub_messages_in_total", "counter",
         "Client messages received, by type (invalid: refused by the "
         "parser or validator, or binary).");
  for (size_t i = 0; i < r.messages_in.size(); ++i)
    sample(out, "scopehub_messages_in_total",
           std::string{"type=\""} + message_name(i) + "\"",
           static_cast<double>(r.messages_in[i].load(relaxed)));
  family(out, "scopehub_commands_total", "counter",
         "Commands answered, by action and outcome (ok or the error code).");
  for (auto a : protocol::all_actions()) {
    const auto& row = r.commands[static_cast<size_t>(a)];
    for (size_t o = 0; o < row.size(); ++o) {
      auto n = row[o].load(relaxed);
      if (n == 0) continue;
      std::string outcome = o == 0 ? std::string{"ok"}
                                   : std::string{protocol::to_string(
                                     static_cast<protocol::error_code>(o - 1))};
      sample(out, "scopehub_commands_total",
             "action=\"" + std::string{protocol::to_string(a)} + "\",outcome=\""
               + outcome + "\"",
             static_cast<double>(n));
    }
  }
  histogram(out, "scopehub_command_duration_seconds",
            "Time from a command's arrival to its answer, as the telescope "
            "measured it (performance_metrics flag).",
            duration_buckets, r.duration_counts,
            static_cast<double>(r.duration_sum_us.load(relaxed)) / 1e6);
  family(out, "scopehub_closes_total", "counter",
         "Sessions closed, by WebSocket close code (other: any code not "
         "listed).");
  for (size_t i = 0; i < close_codes.size(); ++i)
    sample(out, "scopehub_closes_total",
           close_codes[i] == 0
             ? std::string{"code=\"other\""}
             : "code=\"" + std::to_string(close_codes[i]) + "\"",
           static_cast<double>(r.closes[i].load(relaxed)));
  single(out, "scopehub_status_conflated_total", "counter",
         "Status updates merged into a later one for a slow client.",
         r.status_conflated.load(relaxed));
  single(out, "scopehub_status_dropped_total", "counter",
         "Held status updates dropped because their topic started a new "
         "epoch.",
         r.status_dropped.load(relaxed));
  single(out, "scopehub_rate_limited_total", "counter",
         "Client messages refused with RATE_LIMITED.",
         r.rate_limited.load(relaxed));
  single(out, "scopehub_backlog_bytes", "gauge",
         "Outbound bytes queued for all sessions and not yet written.",
         std::max<int64_t>(0, r.backlog_bytes.load(relaxed)));
  single(out, "scopehub_backlog_max_bytes", "gauge",
         "Largest backlog one session has had since start.",
         r.backlog_max_bytes.load(relaxed));
  family(out, "scopehub_telescopes", "gauge", "Telescopes known, by state.");
  sample(out, "scopehub_telescopes", "state=\"online\"",
         static_cast<double>(scopes.online));
  sample(
    out, "scopehub_telescopes", "state=\"offline\"",
    static_cast<double>(scopes.total - std::min(scopes.total, scopes.online)));
  if (net != nullptr) {
    single(out, "scopehub_connections_open", "gauge",
           "TCP connections open (HTTP and WebSocket).",
           net->connections_open.load(relaxed));
    single(out, "scopehub_connections_accepted_total", "counter",
           "TCP connections accepted.", net->accepted.load(relaxed));
    single(out, "scopehub_connections_refused_rate_total", "counter",
           "Connections closed at accept: their address was over its "
           "connection-attempt rate.",
           net->refused_connect_rate.load(relaxed));
    single(out, "scopehub_http_requests_total", "counter",
           "Plain HTTP requests answered.", net->http_requests.load(relaxed));
    single(out, "scopehub_frames_in_total", "counter",
           "WebSocket messages received.", net->frames_in.load(relaxed));
    single(out, "scopehub_frames_out_total", "counter",
           "WebSocket messages and events written.",
           net->frames_out.load(relaxed));
    single(out, "scopehub_bytes_in_total", "counter",
           "Bytes of client messages received.", net->bytes_in.load(relaxed));
    single(out, "scopehub_bytes_out_total", "counter",
           "Bytes of messages and events written to clients.",
           net->bytes_out.load(relaxed));
    single(out, "scopehub_sse_streams_open", "gauge",
           "Server-Sent Event streams open.", net->sse_open.load(relaxed));
    single(out, "scopehub_reads_paused_total", "counter",
           "Times a client's reads paused because its session fell behind.",
           net->reads_paused.load(relaxed));
  }
  return out;
}

} // namespace scopehub::metrics

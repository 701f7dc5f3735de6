#include "sim/fault_plan.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace scopehub::sim {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool to_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  std::string tmp{s};
  char* end = nullptr;
  errno = 0;
  out = std::strtod(tmp.c_str(), &end);
  return errno == 0 && end == tmp.c_str() + tmp.size() && std::isfinite(out);
}

bool to_uint(std::string_view s, uint32_t& out) {
  double d = 0;
  if (!to_double(s, d) || d < 0 || d > 4294967295.0 || d != std::floor(d))
    return false;
  out = static_cast<uint32_t>(d);
  return true;
}

bool to_bool(std::string_view s, bool& out) {
  if (s == "1" || s == "true" || s == "on" || s == "yes" || s.empty()) {
    out = true;
    return true;
  }
  if (s == "0" || s == "false" || s == "off" || s == "no") {
    out = false;
    return true;
  }
  return false;
}

bool to_pct(std::string_view s, double& out) {
  return to_double(s, out) && out >= 0 && out <= 100;
}

bool to_prob(std::string_view s, double& out) {
  return to_double(s, out) && out >= 0 && out <= 1;
}

/// Applies one key=value item; returns an error text or "".
std::string apply(fault_plan& p, std::string_view key, std::string_view val,
                  bool has_val) {
  auto need = [&](bool ok, const char* what) {
    return ok ? std::string{}
              : std::string{key} + ": expected " + what + ", got '"
                  + std::string{val} + "'";
  };
  if (!has_val && key != "stall" && key != "refuse")
    return std::string{key} + ": missing '=value'";
  if (key == "latency") return need(to_uint(val, p.latency_ms), "milliseconds");
  if (key == "jitter") return need(to_uint(val, p.jitter_ms), "milliseconds");
  if (key == "drop_replies")
    return need(to_pct(val, p.drop_replies_pct), "a percentage 0-100");
  if (key == "drop_events")
    return need(to_pct(val, p.drop_events_pct), "a percentage 0-100");
  if (key == "disconnect_after")
    return need(to_uint(val, p.disconnect_after), "a message count");
  if (key == "disconnect_random")
    return need(to_prob(val, p.disconnect_random), "a probability 0-1");
  if (key == "stall") return need(to_bool(val, p.stall), "0 or 1");
  if (key == "garbage_every")
    return need(to_uint(val, p.garbage_every), "a message count");
  if (key == "garbage")
    return need(to_prob(val, p.garbage_prob), "a probability 0-1");
  if (key == "truncate_every")
    return need(to_uint(val, p.truncate_every), "a message count");
  if (key == "truncate")
    return need(to_prob(val, p.truncate_prob), "a probability 0-1");
  if (key == "error_code") {
    uint32_t c = 0;
    auto ok = to_uint(val, c) && c <= 99999;
    p.error_code = static_cast<int>(c);
    return need(ok, "a device error code");
  }
  if (key == "error_method") {
    p.error_method = std::string{val};
    return need(!val.empty(), "a method name");
  }
  if (key == "refuse") return need(to_bool(val, p.refuse), "0 or 1");
  return "unknown fault '" + std::string{key} + "'";
}

} // namespace

bool fault_plan::any() const { return *this != fault_plan{}; }

std::optional<fault_plan> fault_plan::parse(std::string_view spec,
                                            std::string* err) {
  fault_plan p;
  spec = trim(spec);
  if (spec.empty() || spec == "none") return p;
  while (!spec.empty()) {
    auto comma = spec.find(',');
    auto item = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view{}
                                           : spec.substr(comma + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    auto key = trim(item.substr(0, eq));
    auto val = eq == std::string_view::npos ? std::string_view{}
                                            : trim(item.substr(eq + 1));
    if (auto e = apply(p, key, val, eq != std::string_view::npos); !e.empty()) {
      if (err != nullptr) *err = std::move(e);
      return std::nullopt;
    }
  }
  return p;
}

std::string fault_plan::to_string() const {
  std::ostringstream out;
  const char* sep = "";
  auto put = [&](const char* key, auto value) {
    out << sep << key << '=' << value;
    sep = ",";
  };
  if (latency_ms != 0) put("latency", latency_ms);
  if (jitter_ms != 0) put("jitter", jitter_ms);
  if (drop_replies_pct != 0) put("drop_replies", drop_replies_pct);
  if (drop_events_pct != 0) put("drop_events", drop_events_pct);
  if (disconnect_after != 0) put("disconnect_after", disconnect_after);
  if (disconnect_random != 0) put("disconnect_random", disconnect_random);
  if (stall) put("stall", 1);
  if (garbage_every != 0) put("garbage_every", garbage_every);
  if (garbage_prob != 0) put("garbage", garbage_prob);
  if (truncate_every != 0) put("truncate_every", truncate_every);
  if (truncate_prob != 0) put("truncate", truncate_prob);
  if (error_code != 0) put("error_code", error_code);
  if (!error_method.empty()) put("error_method", error_method);
  if (refuse) put("refuse", 1);
  auto s = out.str();
  return s.empty() ? "none" : s;
}

bool fault_plan::operator==(const fault_plan& o) const {
  return latency_ms == o.latency_ms && jitter_ms == o.jitter_ms
         && drop_replies_pct == o.drop_replies_pct
         && drop_events_pct == o.drop_events_pct
         && disconnect_after == o.disconnect_after
         && disconnect_random == o.disconnect_random && stall == o.stall
         && garbage_every == o.garbage_every && garbage_prob == o.garbage_prob
         && truncate_every == o.truncate_every
         && truncate_prob == o.truncate_prob && error_code == o.error_code
         && error_method == o.error_method && refuse == o.refuse;
}

} // namespace scopehub::sim

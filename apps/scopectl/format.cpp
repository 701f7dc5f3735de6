// scopectl: formatting of values, units, tables and exit codes.

#include "apps/scopectl/format.hpp"

#include <algorithm>
#include <cstdio>
#include <map>

#include "protocol/status.hpp"

namespace scopehub::scopectl {

int exit_code_of(const net::command_result& r) {
  using net::command_status;
  using protocol::error_code;
  switch (r.status) {
    case command_status::ok: return exit_ok;
    case command_status::timeout: return exit_timeout;
    case command_status::cancelled: return exit_cancelled;
    case command_status::rejected: return exit_invalid;
    case command_status::failed: break;
  }
  if (!r.response || !r.response->code) return exit_failed;
  switch (*r.response->code) {
    case error_code::command_timeout: return exit_timeout;
    case error_code::command_cancelled: return exit_cancelled;
    case error_code::invalid_json:
    case error_code::invalid_message:
    case error_code::unknown_type:
    case error_code::unsupported_frame:
    case error_code::missing_telescope_id:
    case error_code::unknown_action:
    case error_code::invalid_parameters: return exit_invalid;
    case error_code::telescope_not_found:
    case error_code::telescope_unavailable: return exit_not_found;
    case error_code::telescope_busy:
    case error_code::control_held:
    case error_code::rate_limited:
    case error_code::overloaded: return exit_conflict;
    case error_code::unauthorized:
    case error_code::forbidden: return exit_denied;
    case error_code::internal:
    case error_code::device_error: return exit_failed;
  }
  return exit_failed;
}

std::string plain(const rapidjson::Value& v) {
  if (v.IsString()) return v.GetString();
  if (v.IsDouble()) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.4f", v.GetDouble());
    return buf;
  }
  return protocol::to_json(v);
}

std::string with_unit(std::string_view field, const rapidjson::Value& v) {
  static const std::map<std::string_view, std::string_view> units{
    {"ra", "h"},
    {"dec", "deg"},
    {"alt", "deg"},
    {"az", "deg"},
    {"focus_position", "steps"},
    {"exposure_ms", "ms"},
    {"battery_capacity", "%"},
    {"temp", "C"},
    {"free_storage_mb", "MB"},
    {"duration", "ms"},
    {"dist_deg", "deg"},
  };
  auto text = plain(v);
  if (auto i = units.find(field); i != units.end() && v.IsNumber())
    text += ' ' + std::string{i->second};
  return text;
}

std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + '\n';
  }
  return out;
}

std::string field_lines(const rapidjson::Value& status) {
  std::vector<std::vector<std::string>> rows;
  if (!status.IsObject()) return {};
  for (auto& m : status.GetObject()) {
    std::string name{m.name.GetString(), m.name.GetStringLength()};
    rows.push_back({"  " + name, with_unit(name, m.value)});
  }
  return aligned(rows);
}

} // namespace scopehub::scopectl

#include "actors/audit.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>

#include <rapidjson/document.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "protocol/json_text.hpp"

namespace scopehub::audit {

namespace {

constexpr const char* logger_name = "audit";

std::shared_ptr<spdlog::logger> logger() { return spdlog::get(logger_name); }

/// UTC time with milliseconds, ISO 8601.
std::string now_iso() {
  using namespace std::chrono;
  auto t = system_clock::now();
  auto secs = system_clock::to_time_t(t);
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%s.%03dZ", date, static_cast<int>(ms));
  return buf;
}

template<class Writer>
void field(Writer& w, const char* key, std::string_view value) {
  w.Key(key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

/// Writes one line: {"time":..., "event":..., <fill>}.
template<class F>
void record(const char* event, F fill) {
  auto log = logger();
  if (!log) return;
  auto line = protocol::json_text([&](auto& w) {
    w.StartObject();
    field(w, "time", now_iso());
    field(w, "event", event);
    fill(w);
    w.EndObject();
  });
  log->info(line);
}

} // namespace

std::string open(const std::string& path) {
  close();
  if (path.empty()) return {};
  try {
    auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
    auto log = std::make_shared<spdlog::logger>(logger_name, std::move(sink));
    log->set_pattern("%v");
    log->set_level(spdlog::level::info);
    // Audit lines are few and precious: on disk at once.
    log->flush_on(spdlog::level::info);
    spdlog::register_logger(std::move(log));
    return {};
  } catch (const spdlog::spdlog_ex& e) {
    return e.what();
  }
}

void close() {
  if (auto log = logger()) log->flush();
  spdlog::drop(logger_name);
}

bool enabled() noexcept { return static_cast<bool>(spdlog::get(logger_name)); }

void command(const command_record& x) {
  record("command", [&](auto& w) {
    field(w, "session", x.session);
    field(w, "identity", x.identity);
    field(w, "role", x.role);
    field(w, "peer", x.peer);
    field(w, "telescope", x.telescope);
    field(w, "command_id", x.command_id);
    field(w, "action", x.action);
    w.Key("parameters");
    rapidjson::Document params;
    params.Parse(x.parameters.data(), x.parameters.size());
    if (x.parameters.empty() || params.HasParseError()) {
      w.StartObject();
      w.EndObject();
    } else {
      params.Accept(w);
    }
    field(w, "outcome", x.outcome);
    if (!x.message.empty()) field(w, "message", x.message);
    if (x.duration_ms >= 0) {
      w.Key("duration_ms");
      w.Int64(x.duration_ms);
    }
  });
}

void auth_failure(std::string_view peer, std::string_view where,
                  std::string_view reason, std::string_view detail) {
  record("auth_failure", [&](auto& w) {
    field(w, "peer", peer);
    field(w, "where", where);
    field(w, "reason", reason);
    if (!detail.empty()) field(w, "detail", detail);
  });
}

void lease_takeover(std::string_view telescope, std::string_view identity,
                    std::string_view session, std::string_view previous) {
  record("lease_takeover", [&](auto& w) {
    field(w, "telescope", telescope);
    field(w, "identity", identity);
    field(w, "session", session);
    field(w, "previous_session", previous);
  });
}

void feature_change(std::string_view name, bool enabled,
                    std::string_view identity, std::string_view peer,
                    std::string_view via) {
  record("feature_change", [&](auto& w) {
    field(w, "feature", name);
    w.Key("enabled");
    w.Bool(enabled);
    field(w, "identity", identity);
    field(w, "peer", peer);
    field(w, "via", via);
  });
}

} // namespace scopehub::audit

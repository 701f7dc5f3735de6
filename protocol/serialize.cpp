// Serialization half of codec.hpp: typed messages to compact JSON.

#include "protocol/codec.hpp"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace scopehub::protocol {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void key(writer& w, std::string_view name) {
  w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
}

void string(writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

// Writes JSON text kept in a message as is; `fallback` when it is empty.
void raw(writer& w, const std::string& json, std::string_view fallback,
         rapidjson::Type type) {
  std::string_view text = json.empty() ? fallback : std::string_view{json};
  w.RawValue(text.data(), text.size(), type);
}

void optional_string(writer& w, const std::optional<std::string>& s) {
  if (s)
    string(w, *s);
  else
    w.Null();
}

void head(writer& w, const envelope& env, message_type type) {
  w.StartObject();
  key(w, "id");
  string(w, env.id);
  key(w, "type");
  string(w, to_string(type));
  if (env.telescope_id) {
    key(w, "telescope_id");
    string(w, *env.telescope_id);
  }
  if (env.timestamp) {
    key(w, "timestamp");
    w.Int64(*env.timestamp);
  }
  key(w, "payload");
}

// -- client payloads ----------------------------------------------------------

void body(writer& w, const control_command& x) {
  w.StartObject();
  key(w, "action");
  string(w, to_string(x.action));
  key(w, "parameters");
  raw(w, x.parameters, "{}", rapidjson::kObjectType);
  key(w, "response_expected");
  w.Bool(x.response_expected);
  if (x.timeout_ms) {
    key(w, "timeout_ms");
    w.Int64(*x.timeout_ms);
  }
  w.EndObject();
}

void body(writer& w, const subscription_spec& x) {
  w.StartObject();
  key(w, "subscription_types");
  w.StartArray();
  for (auto t : x.types)
    string(w, to_string(t));
  w.EndArray();
  if (x.telescope_pattern) {
    key(w, "telescope_pattern");
    string(w, *x.telescope_pattern);
  }
  if (!x.resume_from.empty()) {
    key(w, "resume_from");
    w.StartObject();
    for (const auto& [c, seq] : x.resume_from) {
      key(w, to_string(c));
      w.Uint64(seq);
    }
    w.EndObject();
  }
  w.EndObject();
}

void body(writer& w, const client_heartbeat&) {
  w.StartObject();
  w.EndObject();
}

// -- server payloads ----------------------------------------------------------

void body(writer& w, const status_update& x) {
  w.StartObject();
  key(w, "category");
  string(w, to_string(x.category));
  key(w, "seq");
  w.Uint64(x.seq);
  key(w, "epoch");
  string(w, x.epoch);
  key(w, "status");
  raw(w, x.status, "{}", rapidjson::kObjectType);
  key(w, "changes");
  w.StartArray();
  for (const auto& c : x.changes)
    string(w, c);
  w.EndArray();
  key(w, "full_update");
  w.Bool(x.full_update);
  if (x.conflated > 0) {
    key(w, "conflated");
    w.Uint(x.conflated);
  }
  w.EndObject();
}

void body(writer& w, const telescope_discovered& x) {
  const auto& t = x.telescope;
  w.StartObject();
  key(w, "telescope");
  w.StartObject();
  key(w, "id");
  string(w, t.id);
  key(w, "name");
  string(w, t.name);
  key(w, "model");
  string(w, t.model);
  key(w, "host");
  string(w, t.host);
  key(w, "port");
  w.Uint(t.port);
  key(w, "node");
  string(w, t.node);
  key(w, "state");
  string(w, t.state);
  w.EndObject();
  w.EndObject();
}

void body(writer& w, const telescope_lost& x) {
  w.StartObject();
  key(w, "reason");
  string(w, x.reason);
  w.EndObject();
}

void body(writer& w, const command_response& x) {
  w.StartObject();
  key(w, "command_id");
  string(w, x.command_id);
  key(w, "success");
  w.Bool(x.success);
  key(w, "result");
  raw(w, x.result, "null", rapidjson::kNullType);
  key(w, "error");
  optional_string(w, x.error);
  key(w, "error_code");
  if (x.code)
    string(w, to_string(*x.code));
  else
    w.Null();
  if (x.duration_ms) {
    key(w, "duration_ms");
    w.Int64(*x.duration_ms);
  }
  if (x.duplicate) {
    key(w, "duplicate");
    w.Bool(true);
  }
  w.EndObject();
}

void body(writer& w, const command_progress& x) {
  w.StartObject();
  key(w, "command_id");
  string(w, x.command_id);
  key(w, "state");
  string(w, to_string(x.state));
  if (!x.detail.empty()) {
    key(w, "detail");
    raw(w, x.detail, "{}", rapidjson::kObjectType);
  }
  w.EndObject();
}

void body(writer& w, const server_heartbeat& x) {
  w.StartObject();
  key(w, "server_time");
  w.Int64(x.server_time);
  key(w, "session_id");
  string(w, x.session_id);
  key(w, "heartbeat_interval_ms");
  w.Int64(x.heartbeat_interval_ms);
  key(w, "protocol");
  w.Int(x.protocol);
  if (x.server) {
    key(w, "server");
    string(w, *x.server);
  }
  if (x.role) {
    key(w, "role");
    string(w, *x.role);
  }
  w.EndObject();
}

void body(writer& w, const error_message& x) {
  w.StartObject();
  key(w, "error_code");
  string(w, to_string(x.code));
  key(w, "message");
  string(w, x.message);
  key(w, "ref_id");
  optional_string(w, x.ref_id);
  if (x.subscription_kept) {
    key(w, "subscription_kept");
    w.Bool(true);
  }
  w.EndObject();
}

template<class Payload>
std::string write(const envelope& env, message_type type, const Payload& p) {
  rapidjson::StringBuffer buf;
  writer w{buf};
  head(w, env, type);
  std::visit([&w](const auto& x) { body(w, x); }, p);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

} // namespace

std::string serialize(const client_message& x) {
  return write(x.env, type_of(x.payload), x.payload);
}

std::string serialize(const server_message& x) {
  return write(x.env, type_of(x.payload), x.payload);
}

} // namespace scopehub::protocol

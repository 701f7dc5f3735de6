#include "protocol/codec.hpp"

#include "protocol/json_scratch.hpp"
#include "protocol/validate.hpp"

namespace scopehub::protocol {

namespace {

using rapidjson::Value;

std::string text_of(const Value& x) {
  return {x.GetString(), x.GetStringLength()};
}

std::string_view view_of(const Value& x) {
  return {x.GetString(), x.GetStringLength()};
}

const Value* member(const Value& obj, std::string_view name) {
  Value key{rapidjson::StringRef(
    name.data(), static_cast<rapidjson::SizeType>(name.size()))};
  auto i = obj.FindMember(key);
  return i != obj.MemberEnd() ? &i->value : nullptr;
}

protocol_error with_ref(protocol_error err,
                        const std::optional<std::string>& ref) {
  err.ref_id = ref;
  return err;
}

protocol_error invalid_message(std::string text,
                               const std::optional<std::string>& ref) {
  return {error_code::invalid_message, std::move(text), ref};
}

// The id member when it is one string (a repeated id is not trusted).
std::optional<std::string> readable_id(const Value& root) {
  const Value* found = nullptr;
  for (auto i = root.MemberBegin(); i != root.MemberEnd(); ++i) {
    if (view_of(i->name) != "id") continue;
    if (found != nullptr) return std::nullopt;
    found = &i->value;
  }
  if (found == nullptr || !found->IsString()) return std::nullopt;
  return text_of(*found);
}

// Everything common to both directions: JSON, duplicates, envelope.
struct frame {
  scratch_document<> doc;
  std::optional<std::string> ref;
  envelope env;
  std::string_view type;
  Value empty_payload{rapidjson::kObjectType};
  const Value* payload = nullptr;
};

std::optional<protocol_error> read_frame(const uint8_t* data, size_t n,
                                         const parse_options& opts,
                                         frame& out) {
  if (auto err = read_json_object(data, n, out.doc, opts)) return err;
  out.ref = readable_id(out.doc);
  if (auto dup = find_duplicate_key(out.doc))
    return invalid_message(*dup + ": duplicate field", out.ref);
  if (auto err
      = check_schema("envelope", out.doc, "", error_code::invalid_message))
    return with_ref(std::move(*err), out.ref);
  const auto& root = out.doc;
  out.env.id = text_of(root["id"]);
  out.type = view_of(root["type"]);
  if (const auto* tid = member(root, "telescope_id"); tid && tid->IsString())
    out.env.telescope_id = text_of(*tid);
  if (const auto* ts = member(root, "timestamp")) {
    if (!ts->IsInt64())
      return invalid_message("timestamp: is out of range", out.ref);
    out.env.timestamp = ts->GetInt64();
  }
  const auto* payload = member(root, "payload");
  out.payload = payload != nullptr ? payload : &out.empty_payload;
  return std::nullopt;
}

// -- client payloads ----------------------------------------------------------

// `prefix` is how messages name the object holding the command fields:
// "payload." in frames, "" in HTTP bodies.
parsed<control_command>
read_control_command(const Value& payload, const std::string& prefix,
                     const std::optional<std::string>& ref) {
  control_command cmd;
  const auto& name = payload["action"];
  auto a = action_from_string(view_of(name));
  if (!a)
    return protocol_error{error_code::unknown_action,
                          prefix + "action: unknown action " + to_json(name),
                          ref};
  cmd.action = *a;
  scratch_document<> params;
  if (const auto* src = member(payload, "parameters"))
    params.CopyFrom(*src, params.GetAllocator());
  else
    params.SetObject();
  if (auto err = normalize_parameters(*a, params, params.GetAllocator(),
                                      prefix + "parameters"))
    return with_ref(std::move(*err), ref);
  cmd.parameters = to_json(params);
  if (*a == action::batch) {
    for (const auto& step : params["commands"].GetArray())
      cmd.steps.push_back(
        batch_step{*action_from_string(view_of(step["action"])),
                   to_json(step["parameters"])});
  }
  if (const auto* re = member(payload, "response_expected"))
    cmd.response_expected = re->GetBool();
  if (const auto* t = member(payload, "timeout_ms"))
    cmd.timeout_ms = t->GetInt64();
  return cmd;
}

template<class Spec>
parsed<Spec> read_subscription(const Value& payload, const envelope& env,
                               const std::optional<std::string>& ref) {
  Spec spec;
  if (const auto* types = member(payload, "subscription_types")) {
    spec.types.clear();
    for (const auto& t : types->GetArray())
      spec.types.push_back(*subscription_type_from_string(view_of(t)));
  }
  if (const auto* pattern = member(payload, "telescope_pattern")) {
    if (env.telescope_id)
      return invalid_message(
        "payload.telescope_pattern: cannot be combined with telescope_id", ref);
    spec.telescope_pattern = text_of(*pattern);
  }
  if (const auto* resume = member(payload, "resume_from")) {
    for (auto c : all_categories)
      if (const auto* seq = member(*resume, to_string(c)))
        spec.resume_from.emplace(c, seq->GetUint64());
  }
  return spec;
}

// -- server payloads ----------------------------------------------------------

std::optional<std::string> optional_string(const Value& obj, const char* name) {
  const auto* x = member(obj, name);
  if (x == nullptr || !x->IsString()) return std::nullopt;
  return text_of(*x);
}

// Compact JSON of an optional member; "" when absent (or null if
// `null_is_empty`).
std::string raw_member(const Value& obj, const char* name, bool null_is_empty) {
  const auto* x = member(obj, name);
  if (x == nullptr || (null_is_empty && x->IsNull())) return {};
  return to_json(*x);
}

parsed<server_payload>
read_server_payload(message_type type, const Value& p,
                    const std::optional<std::string>& ref) {
  switch (type) {
    case message_type::status_update: {
      status_update x;
      x.category = *category_from_string(view_of(p["category"]));
      x.seq = p["seq"].GetUint64();
      x.epoch = text_of(p["epoch"]);
      x.status = to_json(p["status"]);
      if (const auto* changes = member(p, "changes"))
        for (const auto& c : changes->GetArray())
          x.changes.push_back(text_of(c));
      x.full_update = p["full_update"].GetBool();
      if (const auto* n = member(p, "conflated"))
        x.conflated = static_cast<uint32_t>(n->GetUint64());
      return server_payload{std::move(x)};
    }
    case message_type::telescope_discovered: {
      const auto& t = p["telescope"];
      telescope_info info{text_of(t["id"]),
                          text_of(t["name"]),
                          text_of(t["model"]),
                          text_of(t["host"]),
                          static_cast<uint16_t>(t["port"].GetUint()),
                          text_of(t["node"]),
                          text_of(t["state"])};
      return server_payload{telescope_discovered{std::move(info)}};
    }
    case message_type::telescope_lost:
      return server_payload{telescope_lost{text_of(p["reason"])}};
    case message_type::command_response: {
      command_response x;
      x.command_id = text_of(p["command_id"]);
      x.success = p["success"].GetBool();
      x.result = raw_member(p, "result", true);
      x.error = optional_string(p, "error");
      if (auto name = optional_string(p, "error_code")) {
        x.code = error_code_from_string(*name);
        if (!x.code)
          return invalid_message(
            "payload.error_code: unknown error code \"" + *name + "\"", ref);
      }
      if (const auto* d = member(p, "duration_ms")) {
        if (!d->IsInt64())
          return invalid_message("payload.duration_ms: is out of range", ref);
        x.duration_ms = d->GetInt64();
      }
      if (const auto* dup = member(p, "duplicate"))
        x.duplicate = dup->GetBool();
      return server_payload{std::move(x)};
    }
    case message_type::command_progress: {
      command_progress x;
      x.command_id = text_of(p["command_id"]);
      x.state = view_of(p["state"]) == "working" ? progress_state::working
                                                 : progress_state::accepted;
      x.detail = raw_member(p, "detail", false);
      return server_payload{std::move(x)};
    }
    case message_type::heartbeat: {
      server_heartbeat x;
      const auto& st = p["server_time"];
      const auto& hi = p["heartbeat_interval_ms"];
      if (!st.IsInt64() || !hi.IsInt64())
        return invalid_message("payload: time out of range", ref);
      x.server_time = st.GetInt64();
      x.session_id = text_of(p["session_id"]);
      x.heartbeat_interval_ms = hi.GetInt64();
      x.protocol = p["protocol"].GetInt();
      x.server = optional_string(p, "server");
      x.role = optional_string(p, "role");
      return server_payload{std::move(x)};
    }
    case message_type::error: {
      error_message x;
      auto name = view_of(p["error_code"]);
      auto code = error_code_from_string(name);
      if (!code)
        return invalid_message("payload.error_code: unknown error code \""
                                 + std::string{name} + "\"",
                               ref);
      x.code = *code;
      x.message = text_of(p["message"]);
      x.ref_id = optional_string(p, "ref_id");
      if (const auto* kept = member(p, "subscription_kept"))
        x.subscription_kept = kept->GetBool();
      return server_payload{std::move(x)};
    }
    default:
      return protocol_error{error_code::unknown_type,
                            "type \"" + std::string{to_string(type)}
                              + "\" is not sent by servers",
                            ref};
  }
}

bool is_client_type(message_type t) {
  return t == message_type::control_command || t == message_type::subscribe
         || t == message_type::unsubscribe || t == message_type::heartbeat;
}

bool is_server_type(message_type t) {
  return t != message_type::control_command && t != message_type::subscribe
         && t != message_type::unsubscribe;
}

protocol_error unknown_type(std::string_view type, const char* why,
                            const std::optional<std::string>& ref) {
  return {error_code::unknown_type,
          "type: unknown type \"" + std::string{type} + "\"" + why, ref};
}

} // namespace

parsed<client_message> parse_client_message(const uint8_t* data, size_t n,
                                            const parse_options& opts) {
  frame f;
  if (auto err = read_frame(data, n, opts, f)) return std::move(*err);
  auto type = message_type_from_string(f.type);
  if (!type) return unknown_type(f.type, "", f.ref);
  if (!is_client_type(*type))
    return unknown_type(f.type, " (not accepted from clients)", f.ref);
  // unsubscribe takes the same payload as subscribe.
  auto schema_type
    = *type == message_type::unsubscribe ? message_type::subscribe : *type;
  auto schema = "client/" + std::string{to_string(schema_type)};
  if (auto err = check_schema(schema, *f.payload, "payload",
                              error_code::invalid_message))
    return with_ref(std::move(*err), f.ref);
  client_message msg{std::move(f.env), client_heartbeat{}};
  const auto& payload = *f.payload;
  switch (*type) {
    case message_type::control_command: {
      auto cmd = read_control_command(payload, "payload.", f.ref);
      if (!cmd) return cmd.error();
      msg.payload = std::move(cmd.value());
      break;
    }
    case message_type::subscribe: {
      auto spec = read_subscription<subscribe>(payload, msg.env, f.ref);
      if (!spec) return spec.error();
      msg.payload = std::move(spec.value());
      break;
    }
    case message_type::unsubscribe: {
      auto spec = read_subscription<unsubscribe>(payload, msg.env, f.ref);
      if (!spec) return spec.error();
      msg.payload = std::move(spec.value());
      break;
    }
    default: break; // heartbeat: content ignored
  }
  return msg;
}

parsed<client_message> parse_client_message(std::string_view text,
                                            const parse_options& opts) {
  return parse_client_message(reinterpret_cast<const uint8_t*>(text.data()),
                              text.size(), opts);
}

parsed<http_command> parse_http_command(const uint8_t* data, size_t n,
                                        const parse_options& opts) {
  scratch_document<> doc;
  if (auto err = read_json_object(data, n, doc, opts)) return std::move(*err);
  auto ref = readable_id(doc);
  if (auto dup = find_duplicate_key(doc))
    return invalid_message(*dup + ": duplicate field", ref);
  if (auto err = check_schema("client/http_command", doc, "",
                              error_code::invalid_message))
    return with_ref(std::move(*err), ref);
  auto cmd = read_control_command(doc, "", ref);
  if (!cmd) return cmd.error();
  return http_command{ref, std::move(cmd.value())};
}

parsed<http_command> parse_http_command(std::string_view text,
                                        const parse_options& opts) {
  return parse_http_command(reinterpret_cast<const uint8_t*>(text.data()),
                            text.size(), opts);
}

parsed<server_message> parse_server_message(const uint8_t* data, size_t n,
                                            const parse_options& opts) {
  frame f;
  if (auto err = read_frame(data, n, opts, f)) return std::move(*err);
  auto type = message_type_from_string(f.type);
  if (!type) return unknown_type(f.type, "", f.ref);
  if (!is_server_type(*type))
    return unknown_type(f.type, " (not sent by servers)", f.ref);
  if (!f.env.timestamp) return invalid_message("timestamp: is required", f.ref);
  auto schema = "server/" + std::string{to_string(*type)};
  if (auto err = check_schema(schema, *f.payload, "payload",
                              error_code::invalid_message))
    return with_ref(std::move(*err), f.ref);
  auto payload = read_server_payload(*type, *f.payload, f.ref);
  if (!payload) return payload.error();
  return server_message{std::move(f.env), std::move(payload.value())};
}

parsed<server_message> parse_server_message(std::string_view text,
                                            const parse_options& opts) {
  return parse_server_message(reinterpret_cast<const uint8_t*>(text.data()),
                              text.size(), opts);
}

} // namespace scopehub::protocol

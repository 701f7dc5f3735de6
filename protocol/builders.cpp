#include "protocol/builders.hpp"

#include "protocol/codec.hpp"

namespace scopehub::protocol {

namespace {

envelope envelope_of(const stamp& s) {
  envelope env{std::string{s.id}, std::nullopt, s.timestamp};
  if (!s.telescope_id.empty()) env.telescope_id = std::string{s.telescope_id};
  return env;
}

template<class Payload>
std::string frame(const stamp& s, Payload&& payload) {
  return serialize(
    server_message{envelope_of(s), std::forward<Payload>(payload)});
}

} // namespace

std::string make_error(const stamp& s, error_code code,
                       std::string_view message,
                       std::optional<std::string_view> ref_id,
                       bool subscription_kept) {
  error_message x{code, std::string{message}, std::nullopt, subscription_kept};
  if (ref_id) x.ref_id = std::string{*ref_id};
  return frame(s, std::move(x));
}

std::string make_error(const stamp& s, const protocol_error& err) {
  return frame(s, error_message{err.code, err.message, err.ref_id, false});
}

std::string make_command_response(const stamp& s, const command_response& x) {
  return frame(s, x);
}

std::string make_command_success(const stamp& s, std::string_view command_id,
                                 std::string_view result_json,
                                 std::optional<int64_t> duration_ms) {
  command_response x;
  x.command_id = std::string{command_id};
  x.success = true;
  x.result = std::string{result_json};
  x.duration_ms = duration_ms;
  return frame(s, std::move(x));
}

std::string make_command_failure(const stamp& s, std::string_view command_id,
                                 error_code code, std::string_view message,
                                 std::string_view result_json,
                                 std::optional<int64_t> duration_ms) {
  command_response x;
  x.command_id = std::string{command_id};
  x.success = false;
  x.result = std::string{result_json};
  x.error = std::string{message};
  x.code = code;
  x.duration_ms = duration_ms;
  return frame(s, std::move(x));
}

std::string make_command_progress(const stamp& s, std::string_view command_id,
                                  progress_state state,
                                  std::string_view detail_json) {
  return frame(s, command_progress{std::string{command_id}, state,
                                   std::string{detail_json}});
}

std::string make_status_update(const stamp& s, category cat, uint64_t seq,
                               std::string_view epoch,
                               const rapidjson::Value& status,
                               const std::vector<std::string>& changes,
                               bool full_update, uint32_t conflated) {
  status_update x;
  x.category = cat;
  x.seq = seq;
  x.epoch = std::string{epoch};
  x.status = status.IsObject() ? to_json(status) : std::string{"{}"};
  x.changes = changes;
  x.full_update = full_update;
  x.conflated = conflated;
  return frame(s, std::move(x));
}

std::string make_heartbeat(const stamp& s, const server_heartbeat& x) {
  return frame(s, x);
}

std::string make_telescope_discovered(const stamp& s,
                                      const telescope_info& info) {
  auto with_id = s;
  with_id.telescope_id = info.id;
  return frame(with_id, telescope_discovered{info});
}

std::string make_telescope_lost(const stamp& s, std::string_view reason) {
  return frame(s, telescope_lost{std::string{reason}});
}

} // namespace scopehub::protocol

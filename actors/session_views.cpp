// How a session shows itself: its stats for /api/sessions, and status
// updates as full snapshots when the delta_updates flag was off at its
// start (actors/session.hpp).

#include <chrono>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "actors/session_detail.hpp"
#include "protocol/builders.hpp"
#include "protocol/json_text.hpp"
#include "protocol/status.hpp"

namespace scopehub::session_detail {

/// With delta_updates off: merges a status frame into the topic's full
/// state kept by the session and returns it as a full update (same id,
/// seq, epoch and changes). Returns an empty string for a frame it cannot
/// read (then the frame goes out as it is).
std::string as_full_update(session_ptr self, const std::string& frame) {
  rapidjson::Document doc;
  doc.Parse(frame.data(), frame.size());
  if (doc.HasParseError() || !doc.IsObject()) return {};
  auto p = doc.FindMember("payload");
  if (p == doc.MemberEnd() || !p->value.IsObject()) return {};
  auto& payload = p->value;
  auto cat_m = payload.FindMember("category");
  auto status = payload.FindMember("status");
  if (cat_m == payload.MemberEnd() || !cat_m->value.IsString()
      || status == payload.MemberEnd() || !status->value.IsObject()
      || !doc["telescope_id"].IsString() || !payload["seq"].IsUint64()
      || !payload["epoch"].IsString() || !doc["id"].IsString())
    return {};
  auto cat = protocol::category_from_string(cat_m->value.GetString());
  if (!cat) return {};
  std::string epoch = payload["epoch"].GetString();
  auto key = std::string{doc["telescope_id"].GetString()} + "/"
             + cat_m->value.GetString();
  auto& state = self->state.full_state[key];
  auto full = payload.FindMember("full_update");
  bool replace = !state.IsObject()
                 || (full != payload.MemberEnd() && full->value.IsTrue())
                 || !state.HasMember("\x01"
                                     "epoch")
                 || epoch
                      != state["\x01"
                               "epoch"]
                           .GetString();
  if (replace) {
    state.SetObject();
    state.AddMember("\x01"
                    "epoch",
                    rapidjson::Value{epoch.c_str(), state.GetAllocator()},
                    state.GetAllocator());
  }
  protocol::merge(state, status->value);
  // The epoch marker rides in the state object; build without it.
  rapidjson::Document fields{rapidjson::kObjectType};
  for (auto& m : state.GetObject())
    if (m.name.GetString()[0] != '\x01')
      fields.AddMember(rapidjson::Value{m.name, fields.GetAllocator()},
                       rapidjson::Value{m.value, fields.GetAllocator()},
                       fields.GetAllocator());
  std::vector<std::string> changes;
  if (auto c = payload.FindMember("changes");
      c != payload.MemberEnd() && c->value.IsArray())
    for (auto& x : c->value.GetArray())
      if (x.IsString()) changes.emplace_back(x.GetString());
  int64_t ts = doc.HasMember("timestamp") && doc["timestamp"].IsInt64()
                 ? doc["timestamp"].GetInt64()
                 : wall_ms();
  protocol::stamp stamp{doc["id"].GetString(), ts,
                        doc["telescope_id"].GetString()};
  return protocol::make_status_update(stamp, *cat, payload["seq"].GetUint64(),
                                      epoch, fields, changes, true);
}

/// This session as /api/sessions shows it (JSON object).
std::string stats_json(session_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  auto pipe = st.pipe.lock();
  return protocol::json_text([&](auto& w) {
    auto str = [&w](const char* k, const std::string& v) {
      w.Key(k);
      w.String(v.data(), static_cast<rapidjson::SizeType>(v.size()));
    };
    auto num = [&w](const char* k, uint64_t v) {
      w.Key(k);
      w.Uint64(v);
    };
    w.StartObject();
    str("id", st.cfg.id);
    str("transport", metrics::to_string(st.cfg.transport));
    str("identity", st.cfg.identity);
    str("role", st.cfg.role);
    str("peer", st.cfg.peer);
    if (!st.cfg.bound_telescope.empty())
      str("bound_telescope", st.cfg.bound_telescope);
    w.Key("subscriptions");
    auto subs = subscriptions_json(self);
    rapidjson::Document d;
    d.Parse(subs.data(), subs.size());
    d["subscriptions"].Accept(w);
    num("backlog_bytes", st.out.backlog());
    num("backlog_max_bytes", st.out.backlog_max());
    num("queued_bytes", pipe ? pipe->queued_bytes() : 0);
    num("held_topics", st.out.held());
    w.Key("lag_ms");
    if (st.lag_ns < 0)
      w.Null();
    else
      w.Double(static_cast<double>(st.lag_ns) / 1e6);
    num("conflated", st.out.conflated_total());
    num("dropped", st.out.dropped_total());
    num("rate_limited", st.rate_limited_total);
    num("pending_commands", st.in_flight.size());
    num("frames_sent", st.frames_sent);
    w.Key("age_s");
    w.Double(std::chrono::duration<double>(now - st.started).count());
    w.EndObject();
  });
}

} // namespace scopehub::session_detail

#include "actors/telescope.hpp"

#include <ctime>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "actors/telescope_state.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/stateful_actor.hpp"
#include "protocol/backoff.hpp"
#include "protocol/json_scratch.hpp"

namespace scopehub {

namespace {

using protocol::category;
namespace seestar = protocol::seestar;

size_t index_of(category cat) { return static_cast<size_t>(cat); }

time_point now(telescope_ptr self) { return self->clock().now(); }

std::string fields_json(const rapidjson::Value& state,
                        const std::vector<std::string>& names) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  for (const auto& name : names) {
    auto i = state.FindMember(name.c_str());
    if (i == state.MemberEnd()) continue;
    w.Key(name.c_str(), static_cast<rapidjson::SizeType>(name.size()));
    i->value.Accept(w);
  }
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

void publish_full(telescope_ptr self) {
  auto& st = self->state;
  if (st.topics.size() != protocol::all_categories.size()) return;
  for (auto cat : protocol::all_categories)
    self->send(st.topics[index_of(cat)], update_atom_v,
               protocol::to_json(status_of(self, cat)), true);
}

void set_field(telescope_ptr self, category cat, const char* key,
               rapidjson::Value value) {
  protocol::scratch_document<> delta{rapidjson::kObjectType};
  delta.AddMember(rapidjson::StringRef(key), value, delta.GetAllocator());
  apply_status(self, cat, delta);
}

/// Every field of the protocol's category table exists from the start
/// (null when unknown), so a full snapshot always carries all of them.
void set_defaults(telescope_ptr self) {
  for (auto cat : protocol::all_categories) {
    rapidjson::Document init{rapidjson::kObjectType};
    auto& a = init.GetAllocator();
    for (auto field : protocol::known_fields(cat))
      init.AddMember(
        rapidjson::Value{field.data(),
                         static_cast<rapidjson::SizeType>(field.size()), a},
        rapidjson::Value{}, a);
    protocol::merge(status_of(self, cat), init);
  }
  rapidjson::Document known{rapidjson::kObjectType};
  auto& a = known.GetAllocator();
  known.AddMember("connected", false, a);
  protocol::merge(status_of(self, category::system), known);
  rapidjson::Document motion{rapidjson::kObjectType};
  motion.AddMember("slewing", false, motion.GetAllocator());
  protocol::merge(status_of(self, category::position), motion);
  rapidjson::Document focus{rapidjson::kObjectType};
  focus.AddMember("focuser_moving", false, focus.GetAllocator());
  protocol::merge(status_of(self, category::focus), focus);
  rapidjson::Document imaging{rapidjson::kObjectType};
  auto& ia = imaging.GetAllocator();
  imaging.AddMember("stacked_frames", 0, ia);
  imaging.AddMember("dropped_frames", 0, ia);
  imaging.AddMember("image_enhancement",
                    rapidjson::Value{rapidjson::kObjectType}, ia);
  protocol::merge(status_of(self, category::imaging), imaging);
}

void notify_directory(telescope_ptr self) {
  if (self->state.directory)
    self->send(self->state.directory, state_atom_v, info_of(self));
}

// -- link lifecycle -----------------------------------------------------------

void connect(telescope_ptr self) {
  auto& st = self->state;
  st.phase = link_phase::connecting;
  st.link_id += 1;
  spdlog::info("telescope {}: connecting to {}:{} (attempt {})", st.cfg.id,
               st.cfg.host, st.cfg.port, st.attempt + 1);
  st.link = st.links(caf::actor{self}, st.link_id, st.cfg.host, st.cfg.port,
                     st.cfg.connect_timeout);
}

void schedule_poll(telescope_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.cfg.poll_interval, poll_atom_v, ++st.poll_gen);
}

/// Reads what real clients read after connecting, to build full status.
void start_sync(telescope_ptr self) {
  auto& st = self->state;
  st.phase = link_phase::syncing;
  st.sync_started = now(self);
  st.last_rx = st.sync_started;
  auto t = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&t, &utc);
  auto when = "{\"year\":" + std::to_string(utc.tm_year + 1900)
              + ",\"mon\":" + std::to_string(utc.tm_mon + 1)
              + ",\"day\":" + std::to_string(utc.tm_mday)
              + ",\"hour\":" + std::to_string(utc.tm_hour)
              + ",\"min\":" + std::to_string(utc.tm_min) + ",\"sec\":"
              + std::to_string(utc.tm_sec) + ",\"time_zone\":\"UTC\"}";
  // pi_set_time first: a stale device clock makes gotos fail silently.
  const std::pair<const char*, std::string> reads[] = {
    {"pi_set_time", when},       {"get_device_state", ""},
    {"get_view_state", ""},      {"get_focuser_position", ""},
    {"scope_get_equ_coord", ""}, {"scope_get_horiz_coord", ""},
  };
  st.sync_outstanding = 0;
  for (auto& [method, params] : reads)
    if (send_rpc(self, method, params, rpc_purpose::sync) != 0)
      ++st.sync_outstanding;
}

void become_ready(telescope_ptr self) {
  auto& st = self->state;
  st.phase = link_phase::ready;
  st.attempt = 0;
  set_field(self, category::system, "connected", rapidjson::Value{true});
  spdlog::info("telescope {}: online ({}:{})", st.cfg.id, st.cfg.host,
               st.cfg.port);
  publish_full(self);
  st.announced_online = true;
  notify_directory(self);
}

void schedule_reconnect(telescope_ptr self) {
  auto& st = self->state;
  st.phase = link_phase::backing_off;
  auto delay = backoff_delay(st.attempt, st.cfg.backoff_base,
                             st.cfg.backoff_cap, st.rng);
  spdlog::info("telescope {}: reconnect in {} ms", st.cfg.id, delay.count());
  self->delayed_send(self, delay, reconnect_atom_v, st.attempt);
  st.attempt += 1;
}

// -- device data --------------------------------------------------------------

void apply_deltas(telescope_ptr self,
                  const std::vector<seestar::status_delta>& deltas) {
  for (auto& d : deltas)
    apply_status(self, d.cat, d.fields);
}

/// Status carried by replies to reads (sync and poll).
void apply_reply(telescope_ptr self, const seestar::response& resp) {
  if (resp.code != 0) return;
  const auto& r = resp.result;
  protocol::scratch_document<> delta{rapidjson::kObjectType};
  auto& a = delta.GetAllocator();
  if (resp.method == "get_device_state" && r.IsObject()) {
    apply_deltas(self, seestar::map_device_state(r));
  } else if (resp.method == "scope_get_equ_coord" && r.IsObject()) {
    if (r.HasMember("ra") && r["ra"].IsNumber())
      delta.AddMember("ra", r["ra"].GetDouble(), a);
    if (r.HasMember("dec") && r["dec"].IsNumber())
      delta.AddMember("dec", r["dec"].GetDouble(), a);
    apply_status(self, category::position, delta);
  } else if (resp.method == "scope_get_horiz_coord" && r.IsArray()
             && r.Size() >= 2 && r[0].IsNumber() && r[1].IsNumber()) {
    delta.AddMember("alt", r[0].GetDouble(), a);
    delta.AddMember("az", r[1].GetDouble(), a);
    apply_status(self, category::position, delta);
  } else if (resp.method == "get_focuser_position" && r.IsNumber()) {
    delta.AddMember("focus_position", r.GetInt(), a);
    apply_status(self, category::focus, delta);
  } else if (resp.method == "get_view_state" && r.IsObject()
             && r.HasMember("View") && r["View"].IsObject()) {
    // The view subtree has the shape of a View event: reuse its mapping.
    seestar::event ev;
    ev.name = "View";
    ev.body.CopyFrom(r["View"], ev.body.GetAllocator());
    apply_deltas(self, seestar::map_event(ev));
  }
}

void on_response(telescope_ptr self, seestar::response& resp) {
  auto& st = self->state;
  auto i = st.rpcs.find(resp.id);
  if (i == st.rpcs.end()) {
    spdlog::debug("telescope {}: reply to unknown id {} ({})", st.cfg.id,
                  resp.id, resp.method);
    return;
  }
  auto entry = i->second;
  st.rpcs.erase(i);
  switch (entry.purpose) {
    case rpc_purpose::sync:
      apply_reply(self, resp);
      if (resp.code != 0)
        spdlog::warn("telescope {}: {} failed during sync: {} ({})", st.cfg.id,
                     entry.method, resp.error, resp.code);
      if (st.phase == link_phase::syncing && --st.sync_outstanding == 0)
        become_ready(self);
      break;
    case rpc_purpose::poll: apply_reply(self, resp); break;
    case rpc_purpose::command:
    case rpc_purpose::cancel_stop: on_command_reply(self, entry, resp); break;
    case rpc_purpose::ignore: break;
  }
}

void on_line(telescope_ptr self, const std::string& line) {
  auto& st = self->state;
  st.last_rx = now(self);
  auto parsed = seestar::parse_line(line);
  switch (parsed.kind) {
    case seestar::line_kind::response: on_response(self, parsed.resp); break;
    case seestar::line_kind::event:
      apply_deltas(self, seestar::map_event(parsed.ev));
      if (st.phase == link_phase::ready) on_command_event(self, parsed.ev);
      break;
    case seestar::line_kind::invalid:
      spdlog::warn("telescope {}: skipped a bad line ({}): {:.64}", st.cfg.id,
                   parsed.problem, line);
      break;
  }
}

void on_poll(telescope_ptr self) {
  auto& st = self->state;
  schedule_poll(self);
  expire_ledger_and_lease(self);
  auto t = now(self);
  if (st.phase == link_phase::syncing
      && t - st.sync_started > st.cfg.sync_timeout) {
    drop_link(self, "device did not answer the initial reads");
    return;
  }
  if (st.phase != link_phase::ready) return;
  if (t - st.last_rx > st.cfg.stall_timeout) {
    drop_link(self, "device stalled (no data for "
                      + std::to_string(st.cfg.stall_timeout.count()) + " ms)");
    return;
  }
  send_rpc(self, "test_connection", "", rpc_purpose::poll);
  send_rpc(self, "scope_get_equ_coord", "", rpc_purpose::poll);
  send_rpc(self, "scope_get_horiz_coord", "", rpc_purpose::poll);
}

} // namespace

// -- shared helpers
// -------------------------------------------------------------

rapidjson::Document& status_of(telescope_ptr self, category cat) {
  return self->state.status[index_of(cat)];
}

void apply_status(telescope_ptr self, category cat,
                  const rapidjson::Value& fields) {
  auto& st = self->state;
  auto& state = status_of(self, cat);
  auto changed = protocol::merge(state, fields);
  if (changed.empty() || st.phase != link_phase::ready
      || st.topics.size() != protocol::all_categories.size())
    return;
  self->send(st.topics[index_of(cat)], update_atom_v,
             fields_json(state, changed), false);
}

int64_t send_rpc(telescope_ptr self, const std::string& method,
                 const std::string& params, rpc_purpose purpose, uint64_t key) {
  auto& st = self->state;
  auto link = st.link.lock();
  if (!link) return 0;
  auto id = st.ids.next();
  st.rpcs.emplace(id, rpc_entry{purpose, method, key});
  link->write(seestar::make_request(id, method, params));
  return id;
}

void drop_link(telescope_ptr self, const std::string& reason) {
  auto& st = self->state;
  if (auto link = st.link.lock()) link->close();
  st.link.reset();
  st.link_id += 1; // ignore anything the old link still reports
  st.rpcs.clear();
  auto was_online = st.announced_online;
  st.offline_reason = reason;
  fail_all_pending(self, reason);
  if (was_online) {
    spdlog::warn("telescope {}: offline: {}", st.cfg.id, reason);
    // Publish before leaving `ready`, so subscribers see connected=false.
    rapidjson::Document delta{rapidjson::kObjectType};
    delta.AddMember("connected", false, delta.GetAllocator());
    apply_status(self, category::system, delta);
    rapidjson::Document pos{rapidjson::kObjectType};
    pos.AddMember("slewing", false, pos.GetAllocator());
    apply_status(self, category::position, pos);
    st.announced_online = false;
    st.phase = link_phase::offline;
    notify_directory(self);
  } else {
    spdlog::info("telescope {}: link failed: {}", st.cfg.id, reason);
  }
  schedule_reconnect(self);
}

telescope_info info_of(telescope_ptr self) {
  auto& st = self->state;
  telescope_info info;
  info.id = st.cfg.id;
  info.name = st.cfg.name.empty() ? st.cfg.id : st.cfg.name;
  info.model = st.cfg.model;
  auto& sys = status_of(self, category::system);
  if (sys.IsObject() && sys.HasMember("model") && sys["model"].IsString())
    info.model = sys["model"].GetString();
  info.host = st.cfg.host;
  info.port = st.cfg.port;
  info.node = st.cfg.node;
  info.online = st.phase == link_phase::ready;
  if (!info.online) info.reason = st.offline_reason;
  return info;
}

// -- the behavior
// ---------------------------------------------------------------

caf::behavior telescope_actor(telescope_ptr self, telescope_config cfg,
                              net::link_factory links, caf::actor directory,
                              std::vector<caf::actor> topics) {
  auto& st = self->state;
  st.rng.seed(cfg.seed != 0 ? cfg.seed : std::random_device{}());
  st.cfg = std::move(cfg);
  st.links = std::move(links);
  st.directory = std::move(directory);
  st.topics = std::move(topics);
  for (auto& doc : st.status)
    doc.SetObject();
  set_defaults(self);
  self->set_down_handler(
    [self](const caf::down_msg& dm) { on_holder_down(self, dm.source); });
  connect(self);
  schedule_poll(self);
  return {
    [self](command_atom, command_request& req) {
      return accept_command(self, req);
    },
    [self](link_up_atom, uint64_t id) {
      if (id == self->state.link_id
          && self->state.phase == link_phase::connecting)
        start_sync(self);
    },
    [self](link_line_atom, uint64_t id, const std::string& line) {
      if (id == self->state.link_id) on_line(self, line);
    },
    [self](link_down_atom, uint64_t id, const std::string& reason) {
      if (id == self->state.link_id) drop_link(self, reason);
    },
    [self](reconnect_atom, unsigned) {
      if (self->state.phase != link_phase::backing_off) return;
      metrics::global().device_reconnects.fetch_add(1,
                                                    std::memory_order_relaxed);
      connect(self);
    },
    [self](poll_atom, uint64_t gen) {
      if (gen == self->state.poll_gen) on_poll(self);
    },
    [self](deadline_atom, uint64_t gen) { on_deadline(self, gen); },
    [self](move_done_atom, uint64_t key) { on_move_done(self, key); },
    [self](caf::get_atom) { return info_of(self); },
  };
}

caf::actor spawn_telescope(caf::actor_system& sys, telescope_config cfg,
                           net::link_factory links, caf::actor directory,
                           std::vector<caf::actor> topics) {
  return sys.spawn(telescope_actor, std::move(cfg), std::move(links),
                   std::move(directory), std::move(topics));
}

} // namespace scopehub

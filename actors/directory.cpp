#include "actors/directory.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <spdlog/spdlog.h>

#include "protocol/builders.hpp"

namespace scopehub {

namespace {

using directory_self = caf::stateful_actor<directory_state>*;

int64_t now_ms() {
  using namespace std::chrono;
  auto t = system_clock::now().time_since_epoch();
  return duration_cast<milliseconds>(t).count();
}

// -- frames -------------------------------------------------------------------

// The frames use protocol/builders.hpp; `stamp` views the id, so each
// builder call keeps its id in a local.

std::string next_id(directory_state& st) {
  return st.cfg.id_prefix + std::to_string(++st.frames_built);
}

std::string discovered_frame(directory_state& st, const telescope_info& x) {
  protocol::telescope_info wire;
  wire.id = x.id;
  wire.name = x.name;
  wire.model = x.model;
  wire.host = x.host;
  wire.port = x.port;
  wire.node = x.node;
  wire.state = x.online ? "online" : "offline";
  auto id = next_id(st);
  return protocol::make_telescope_discovered({id, now_ms(), x.id}, wire);
}

std::string lost_frame(directory_state& st, const telescope_info& x) {
  auto id = next_id(st);
  return protocol::make_telescope_lost({id, now_ms(), x.id}, x.reason);
}

// -- fleet --------------------------------------------------------------------

auto find_session(directory_state& st, const caf::actor_addr& who) {
  return std::find_if(st.sessions.begin(), st.sessions.end(),
                      [&](const caf::actor& x) { return x.address() == who; });
}

/// Sends one announcement, built once, to every session.
void announce(directory_self self, const telescope_entry& e,
              std::string frame) {
  auto msg = caf::make_message(fleet_atom_v, e, std::move(frame));
  for (const auto& s : self->state.sessions)
    self->send(s, msg);
}

void announce_discovered(directory_self self, const telescope_entry& e) {
  announce(self, e, discovered_frame(self->state, e.info));
}

void announce_lost(directory_self self, const telescope_entry& e) {
  announce(self, e, lost_frame(self->state, e.info));
}

// -- handlers -----------------------------------------------------------------

void on_register(directory_self self, telescope_info& info, caf::actor& tel,
                 std::vector<caf::actor>& topics) {
  if (info.id.empty()) {
    spdlog::warn("directory: ignored a telescope registered without an id");
    return;
  }
  auto& e = self->state.telescopes[info.id];
  if (e.telescope && e.telescope != tel && e.info.node != info.node) {
    // Farm mode: two edges with the same telescope id. The first keeps it
    // while it lives; ids must be unique in a farm.
    spdlog::error("directory: telescope '{}' of node {} ignored: the id is "
                  "already served by node {} (ids must be unique in a farm)",
                  info.id, info.node, e.info.node);
    return;
  }
  if (e.telescope != tel) {
    if (e.telescope) self->demonitor(e.telescope);
    if (tel) self->monitor(tel);
  }
  e.info = std::move(info);
  e.telescope = std::move(tel);
  e.topics = std::move(topics);
  announce_discovered(self, e);
}

void on_state(directory_self self, telescope_info& info) {
  auto& tels = self->state.telescopes;
  auto i = tels.find(info.id);
  if (i == tels.end()) {
    spdlog::warn("directory: state of unknown telescope '{}' ignored", info.id);
    return;
  }
  auto& e = i->second;
  bool was_online = e.info.online;
  e.info = std::move(info);
  if (!was_online && e.info.online)
    announce_discovered(self, e);
  else if (was_online && !e.info.online)
    announce_lost(self, e);
}

/// A monitored telescope or session terminated.
void on_down(directory_self self, const caf::down_msg& dm) {
  auto& st = self->state;
  for (auto& [id, e] : st.telescopes) {
    if (e.telescope && e.telescope.address() == dm.source) {
      // Keep the entry (info and topics) for a later register; drop the
      // dead handle so nobody sends to it.
      e.telescope = caf::actor{};
      e.info.online = false;
      // A remote telescope (farm mode) vanishes with its node.
      e.info.reason = dm.reason == caf::exit_reason::remote_link_unreachable
                        ? "node " + e.info.node + " lost"
                        : std::string{telescope_down_reason};
      announce_lost(self, e);
      return;
    }
  }
  auto i = find_session(st, dm.source);
  if (i != st.sessions.end()) st.sessions.erase(i);
}

caf::result<std::vector<telescope_entry>, std::vector<std::string>>
on_join(directory_self self, const caf::actor& session) {
  auto& st = self->state;
  if (session && find_session(st, session.address()) == st.sessions.end()) {
    self->monitor(session);
    st.sessions.push_back(session);
  }
  std::vector<telescope_entry> entries;
  std::vector<std::string> frames;
  entries.reserve(st.telescopes.size());
  frames.reserve(st.telescopes.size());
  for (const auto& [id, e] : st.telescopes) {
    entries.push_back(e);
    frames.push_back(discovered_frame(st, e.info));
  }
  return {std::move(entries), std::move(frames)};
}

void on_leave(directory_self self, const caf::actor& session) {
  auto& st = self->state;
  auto i = find_session(st, session.address());
  if (i == st.sessions.end()) return;
  self->demonitor(session);
  st.sessions.erase(i);
}

} // namespace

std::string to_string(directory_errc x) {
  switch (x) {
    case directory_errc::telescope_not_found: return "telescope_not_found";
  }
  return "unknown";
}

caf::behavior directory_actor(caf::stateful_actor<directory_state>* self,
                              directory_config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  return {
    [self](register_atom, telescope_info& info, caf::actor& tel,
           std::vector<caf::actor>& topics) {
      on_register(self, info, tel, topics);
    },
    [self](state_atom, telescope_info& info) { on_state(self, info); },
    [self](caf::subscribe_atom, const caf::actor& session) {
      return on_join(self, session);
    },
    [self](caf::unsubscribe_atom, const caf::actor& session) {
      on_leave(self, session);
    },
    [self](lookup_atom, const std::string& id) -> caf::result<telescope_entry> {
      auto& tels = self->state.telescopes;
      auto i = tels.find(id);
      if (i == tels.end()) return directory_errc::telescope_not_found;
      return i->second;
    },
    [self](list_atom) {
      std::vector<telescope_info> result;
      for (const auto& [id, e] : self->state.telescopes)
        result.push_back(e.info);
      return result;
    },
    [self](caf::get_atom) -> caf::result<uint64_t, uint64_t, uint64_t> {
      auto& st = self->state;
      auto online
        = std::count_if(st.telescopes.begin(), st.telescopes.end(),
                        [](const auto& kv) { return kv.second.info.online; });
      return {static_cast<uint64_t>(st.telescopes.size()),
              static_cast<uint64_t>(online),
              static_cast<uint64_t>(st.sessions.size())};
    },
  };
}

} // namespace scopehub

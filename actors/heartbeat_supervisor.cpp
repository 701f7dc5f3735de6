#include "actors/heartbeat_supervisor.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "protocol/backoff.hpp"

namespace scopehub {

namespace {

using supervisor_ptr = caf::stateful_actor<supervisor_state>*;

void start(supervisor_ptr self, supervisor_state::watched& w) {
  auto entry = self->state.spawn(w.spec, w.topics);
  w.telescope = entry.telescope;
  w.topics = std::move(entry.topics);
  w.started = self->clock().now();
  if (w.telescope) self->monitor(w.telescope);
}

void on_down(supervisor_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto& ss = st.sessions;
  ss.erase(std::remove_if(
             ss.begin(), ss.end(),
             [&](const caf::actor& a) { return a.address() == dm.source; }),
           ss.end());
  for (auto& [id, w] : st.telescopes) {
    if (!w.telescope || w.telescope.address() != dm.source) continue;
    w.telescope = caf::actor{};
    if (dm.reason == caf::exit_reason::normal
        || dm.reason == caf::exit_reason::user_shutdown)
      return; // a deliberate stop is not a crash
    auto now = self->clock().now();
    if (now - w.started >= st.cfg.restart_reset) w.failures = 0;
    auto delay = backoff_delay(w.failures, st.cfg.restart_base,
                               st.cfg.restart_cap, st.rng);
    w.failures += 1;
    spdlog::error("telescope {} crashed ({}); restart in {} ms", id,
                  self->system().render(dm.reason), delay.count());
    self->delayed_send(self, delay, restart_atom_v, id);
    return;
  }
}

/// Stops everything the supervisor owns and quits; returns the telescope
/// and topic actors it stopped so the caller can wait for them.
std::vector<caf::actor> stop_all(supervisor_ptr self) {
  auto& st = self->state;
  std::vector<caf::actor> stopped;
  for (auto& [id, w] : st.telescopes) {
    if (w.telescope) stopped.push_back(w.telescope);
    stopped.insert(stopped.end(), w.topics.begin(), w.topics.end());
  }
  for (auto& s : st.sessions)
    self->send_exit(s, caf::exit_reason::user_shutdown);
  for (auto& [id, w] : st.telescopes) {
    if (w.telescope)
      self->send_exit(w.telescope, caf::exit_reason::user_shutdown);
    for (auto& t : w.topics)
      self->send_exit(t, caf::exit_reason::user_shutdown);
  }
  st.sessions.clear();
  st.telescopes.clear();
  self->quit();
  return stopped;
}

} // namespace

caf::behavior heartbeat_supervisor(supervisor_ptr self, supervisor_config cfg,
                                   telescope_spawner spawn) {
  auto& st = self->state;
  st.cfg = cfg;
  st.spawn = std::move(spawn);
  st.rng.seed(cfg.seed != 0 ? cfg.seed : std::random_device{}());
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  self->delayed_send(self, st.cfg.tick, caf::tick_atom_v);
  return {
    [self](caf::join_atom, caf::actor session) {
      self->monitor(session);
      self->state.sessions.push_back(std::move(session));
    },
    [self](supervise_atom, const telescope_spec& spec) {
      auto& st = self->state;
      if (st.telescopes.count(spec.id) > 0 || !st.spawn)
        return; // known already (discovery repeats itself)
      spdlog::info("telescope {} added ({} at {}:{})", spec.id, spec.origin,
                   spec.host, spec.port);
      auto& w = st.telescopes[spec.id];
      w.spec = spec;
      start(self, w);
    },
    [self](restart_atom, const std::string& id) {
      auto& st = self->state;
      auto i = st.telescopes.find(id);
      if (i == st.telescopes.end() || i->second.telescope) return;
      start(self, i->second);
      st.restarts += 1;
      spdlog::info("telescope {} restarted (after {} failures)", id,
                   i->second.failures);
    },
    [self](caf::tick_atom) {
      for (auto& s : self->state.sessions)
        self->send(s, heartbeat_atom_v);
      self->delayed_send(self, self->state.cfg.tick, caf::tick_atom_v);
    },
    [self](caf::close_atom, uint16_t code, const std::string& reason) {
      for (auto& s : self->state.sessions)
        self->send(s, caf::close_atom_v, code, reason);
    },
    [self](caf::get_atom) {
      return std::make_tuple(static_cast<uint64_t>(self->state.sessions.size()),
                             self->state.restarts);
    },
    [self](list_atom) {
      std::vector<std::string> ids;
      for (auto& [id, w] : self->state.telescopes)
        ids.push_back(id);
      return ids;
    },
    [self](caf::delete_atom) { return stop_all(self); },
    [self](stats_atom) {
      auto& st = self->state;
      return std::make_tuple(st.sessions,
                             std::vector<std::string>{st.recent_closes.begin(),
                                                      st.recent_closes.end()});
    },
    [self](stats_atom, std::string& close_json) {
      auto& closes = self->state.recent_closes;
      closes.push_back(std::move(close_json));
      while (closes.size() > 32)
        closes.pop_front();
    },
  };
}

} // namespace scopehub

#include "actors/heartbeat_supervisor.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "actors/backoff.hpp"

namespace scopehub {

namespace {

using supervisor_ptr = caf::stateful_actor<supervisor_state>*;

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

} // namespace

caf::behavior heartbeat_supervisor(supervisor_ptr self, supervisor_config cfg,
                                   telescope_restarter restart) {
  auto& st = self->state;
  st.cfg = cfg;
  st.restart = std::move(restart);
  st.rng.seed(cfg.seed != 0 ? cfg.seed : std::random_device{}());
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  self->delayed_send(self, st.cfg.tick, caf::tick_atom_v);
  return {
    [self](caf::join_atom, caf::actor session) {
      self->monitor(session);
      self->state.sessions.push_back(std::move(session));
    },
    [self](supervise_atom, const std::string& id, caf::actor telescope) {
      auto& w = self->state.telescopes[id];
      w.telescope = telescope;
      w.started = self->clock().now();
      self->monitor(telescope);
    },
    [self](restart_atom, const std::string& id) {
      auto& st = self->state;
      auto i = st.telescopes.find(id);
      if (i == st.telescopes.end() || i->second.telescope || !st.restart)
        return;
      auto fresh = st.restart(id);
      st.restarts += 1;
      spdlog::info("telescope {} restarted (restart #{})", id,
                   i->second.failures);
      i->second.telescope = fresh;
      i->second.started = self->clock().now();
      self->monitor(fresh);
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
  };
}

} // namespace scopehub

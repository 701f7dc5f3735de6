#include "actors/farm.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "actors/audit.hpp"
#include "actors/auth.hpp"
#include "actors/metrics.hpp"
#include "caf/io/middleman.hpp"
#include "caf/node_id.hpp"
#include "protocol/backoff.hpp"
#include "protocol/status.hpp"

namespace scopehub {

std::string to_string(farm_errc x) {
  switch (x) {
    case farm_errc::message_set_mismatch: return "message_set_mismatch";
    case farm_errc::unauthorized: return "unauthorized";
  }
  return "unknown";
}

std::string farm_message_set_digest() {
  return auth::sha256_hex(farm_message_set).substr(0, 16);
}

std::string farm_proof(std::string_view secret, std::string_view nonce,
                       std::string_view peer) {
  std::string text{nonce};
  text += '|';
  text += peer;
  return auth::hmac_sha256_hex(secret, text);
}

namespace {

using std::chrono::milliseconds;

std::string node_text(const caf::strong_actor_ptr& who) {
  return who ? caf::to_string(who->node()) : std::string{"unknown node"};
}

// -- edge ---------------------------------------------------------------------

using edge_self = caf::stateful_actor<farm_edge_state>*;

caf::result<std::string> on_hello(edge_self self, const std::string& set,
                                  const std::string& peer) {
  auto& st = self->state;
  auto sender = self->current_sender();
  if (set != st.cfg.message_set) {
    spdlog::error("farm: refused {} ({}): it runs message set {}, this edge "
                  "runs {}; run the same scopehub version on every node",
                  peer, node_text(sender), set, st.cfg.message_set);
    return caf::make_error(farm_errc::message_set_mismatch,
                           "the edge runs message set " + st.cfg.message_set);
  }
  if (!sender) return caf::make_error(farm_errc::unauthorized, "no sender");
  auto nonce = auth::random_hex(16);
  // One outstanding nonce per node: a new hello replaces the old one.
  st.nonces[sender->node()] = nonce + "|" + peer;
  return nonce;
}

caf::result<std::string, std::vector<telescope_entry>>
on_auth(edge_self self, const std::string& proof) {
  auto& st = self->state;
  auto sender = self->current_sender();
  auto i = sender ? st.nonces.find(sender->node()) : st.nonces.end();
  if (i == st.nonces.end()) {
    spdlog::warn("farm: refused a link from {}: no hello first",
                 node_text(sender));
    return caf::make_error(farm_errc::unauthorized, "hello first");
  }
  auto pending = std::move(i->second);
  st.nonces.erase(i); // a nonce is good for one try
  auto bar = pending.find('|');
  auto nonce = pending.substr(0, bar);
  auto peer = pending.substr(bar + 1);
  if (!auth::equal_constant_time(proof,
                                 farm_proof(st.cfg.secret, nonce, peer))) {
    spdlog::warn("farm: refused {} ({}): wrong farm secret", peer,
                 node_text(sender));
    audit::auth_failure(node_text(sender), "farm link", "farm_secret",
                        "wrong farm secret from " + peer);
    return caf::make_error(farm_errc::unauthorized, "wrong farm secret");
  }
  auto gateway = caf::actor_cast<caf::actor>(sender);
  auto& gws = st.gateways;
  if (gateway && std::find(gws.begin(), gws.end(), gateway) == gws.end()) {
    self->monitor(gateway);
    gws.push_back(gateway);
    metrics::global().farm_links_up.fetch_add(1, std::memory_order_relaxed);
  }
  spdlog::info("farm: gateway {} ({}) linked", peer, node_text(sender));
  auto rp
    = self->make_response_promise<std::string, std::vector<telescope_entry>>();
  self
    ->request(st.cfg.directory, std::chrono::seconds{10}, caf::subscribe_atom_v,
              caf::actor_cast<caf::actor>(self))
    .then(
      [self, rp](std::vector<telescope_entry>& entries,
                 std::vector<std::string>&) mutable {
        rp.deliver(self->state.cfg.node, std::move(entries));
      },
      [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

// -- gateway link -------------------------------------------------------------

using link_self = caf::stateful_actor<farm_link_state>*;

std::string where(const farm_link_config& cfg) {
  return cfg.host + ":" + std::to_string(cfg.port);
}

void connect(link_self self);

/// Schedules the next connection attempt after a backoff delay.
void retry(link_self self, const std::string& why) {
  auto& st = self->state;
  auto delay = backoff_delay(st.attempt, st.cfg.backoff_base,
                             st.cfg.backoff_cap, st.rng);
  if (st.attempt < 30) ++st.attempt;
  spdlog::warn("farm: edge at {} not linked ({}); next try in {} ms",
               where(st.cfg), why, delay.count());
  self->delayed_send(self, delay, reconnect_atom_v, st.generation);
}

/// Why the edge refused us, in words an operator can act on.
std::string refusal(link_self self, const caf::error& err) {
  if (err.category() == caf::atom("farm")) {
    if (err.code() == static_cast<uint8_t>(farm_errc::message_set_mismatch))
      return "it runs another message set (ours is "
             + self->state.cfg.message_set
             + "); run the same scopehub version on every node";
    if (err.code() == static_cast<uint8_t>(farm_errc::unauthorized))
      return "it refused our farm secret (farm.secret must match)";
  }
  return self->system().render(err);
}

/// Takes a telescope entry from the edge: mirrors for new telescopes, the
/// gateway's directory told about new handles or a new state.
void adopt(link_self self, telescope_entry& e) {
  auto& st = self->state;
  auto [it, fresh] = st.telescopes.try_emplace(e.info.id);
  auto& r = it->second;
  if (fresh) {
    for (auto cat : protocol::all_categories) {
      topic_config tc;
      tc.telescope_id = e.info.id;
      tc.category = cat;
      tc.history_size = st.cfg.history;
      tc.mirror = true;
      auto mirror = self->spawn(topic_actor, tc);
      self->link_to(mirror); // mirrors end with their link
      r.mirrors.push_back(std::move(mirror));
    }
  }
  if (e.topics != r.upstream) {
    r.upstream = e.topics;
    for (size_t i = 0; i < r.mirrors.size(); ++i)
      self->send(r.mirrors[i], follow_atom_v,
                 i < r.upstream.size() ? r.upstream[i] : caf::actor{});
  }
  bool new_handle = e.telescope && e.telescope != r.telescope;
  r.info = e.info;
  r.telescope = e.telescope;
  if (fresh || new_handle)
    self->send(st.cfg.directory, register_atom_v, r.info, r.telescope,
               r.mirrors);
  else
    self->send(st.cfg.directory, state_atom_v, r.info);
}

void joined(link_self self, caf::actor edge, std::string node,
            std::vector<telescope_entry>& entries) {
  auto& st = self->state;
  st.edge = std::move(edge);
  st.node = std::move(node);
  st.up = true;
  st.attempt = 0;
  self->monitor(st.edge);
  metrics::global().farm_links_up.fetch_add(1, std::memory_order_relaxed);
  spdlog::info("farm: linked to edge {} at {} ({} telescopes)", st.node,
               where(st.cfg), entries.size());
  for (auto& e : entries)
    adopt(self, e);
}

void handshake(link_self self, uint64_t gen, caf::actor edge) {
  auto& cfg = self->state.cfg;
  auto refused = [self, gen](caf::error& err) {
    if (gen != self->state.generation) return;
    spdlog::error("farm: edge at {} refused this gateway: {}",
                  where(self->state.cfg), refusal(self, err));
    retry(self, "refused");
  };
  self
    ->request(edge, cfg.handshake_timeout, hello_atom_v, cfg.message_set,
              cfg.name)
    .then(
      [self, gen, edge, refused](const std::string& nonce) {
        auto& cfg = self->state.cfg;
        if (gen != self->state.generation) return;
        self
          ->request(edge, cfg.handshake_timeout, auth_atom_v,
                    farm_proof(cfg.secret, nonce, cfg.name))
          .then(
            [self, gen, edge](std::string& node,
                              std::vector<telescope_entry>& entries) {
              if (gen == self->state.generation)
                joined(self, edge, std::move(node), entries);
            },
            refused);
      },
      refused);
}

void connect(link_self self) {
  auto& st = self->state;
  auto gen = ++st.generation;
  auto mm = self->system().middleman().actor_handle();
  self
    ->request(mm, st.cfg.handshake_timeout, caf::connect_atom_v, st.cfg.host,
              st.cfg.port)
    .then(
      [self, gen](const caf::node_id&, caf::strong_actor_ptr& ptr,
                  const std::set<std::string>&) {
        if (gen != self->state.generation) return;
        if (!ptr) return retry(self, "no farm actor published there");
        handshake(self, gen, caf::actor_cast<caf::actor>(std::move(ptr)));
      },
      [self, gen](caf::error& err) {
        if (gen == self->state.generation)
          retry(self, self->system().render(err));
      });
}

/// The edge's farm actor is gone: the node or the link to it is lost.
void on_edge_down(link_self self, const caf::down_msg& dm) {
  auto& st = self->state;
  spdlog::warn("farm: lost edge {} at {}: {}", st.node, where(st.cfg),
               self->system().render(dm.reason));
  st.up = false;
  st.edge = caf::actor{};
  ++st.generation;
  metrics::global().farm_links_up.fetch_sub(1, std::memory_order_relaxed);
  metrics::global().farm_links_lost.fetch_add(1, std::memory_order_relaxed);
  // The gateway's directory monitors the telescopes itself and reports
  // them lost (naming the node); the mirrors keep their subscribers and
  // state and pick up again when the edge is back.
  for (auto& [id, r] : st.telescopes) {
    r.telescope = caf::actor{};
    r.upstream.clear();
    for (auto& m : r.mirrors)
      self->send(m, follow_atom_v, caf::actor{});
  }
  retry(self, "link lost");
}

} // namespace

caf::behavior farm_edge_actor(caf::stateful_actor<farm_edge_state>* self,
                              farm_edge_config cfg) {
  if (cfg.message_set.empty()) cfg.message_set = farm_message_set_digest();
  self->state.cfg = std::move(cfg);
  // Join the edge's fleet like a session: every change arrives here.
  self
    ->request(self->state.cfg.directory, caf::infinite, caf::subscribe_atom_v,
              caf::actor_cast<caf::actor>(self))
    .then([](std::vector<telescope_entry>&, std::vector<std::string>&) {});
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& gws = self->state.gateways;
    auto i = std::find_if(gws.begin(), gws.end(), [&](const caf::actor& x) {
      return x.address() == dm.source;
    });
    if (i == gws.end()) return;
    spdlog::info("farm: a gateway link ended ({})",
                 self->system().render(dm.reason));
    gws.erase(i);
    metrics::global().farm_links_up.fetch_sub(1, std::memory_order_relaxed);
  });
  return {
    [self](hello_atom, const std::string& set, const std::string& peer) {
      return on_hello(self, set, peer);
    },
    [self](auth_atom, const std::string& proof) {
      return on_auth(self, proof);
    },
    [self](fleet_atom, telescope_entry& e, const std::string&) {
      auto msg = caf::make_message(fleet_atom_v, std::move(e), std::string{});
      for (const auto& g : self->state.gateways)
        self->send(g, msg);
    },
    [self](caf::get_atom) {
      return static_cast<uint64_t>(self->state.gateways.size());
    },
  };
}

caf::behavior farm_link_actor(caf::stateful_actor<farm_link_state>* self,
                              farm_link_config cfg) {
  if (cfg.message_set.empty()) cfg.message_set = farm_message_set_digest();
  self->state.cfg = std::move(cfg);
  self->set_down_handler([self](caf::down_msg& dm) {
    if (self->state.edge && dm.source == self->state.edge.address())
      on_edge_down(self, dm);
  });
  connect(self);
  return {
    [self](reconnect_atom, uint64_t gen) {
      if (gen == self->state.generation && !self->state.up) connect(self);
    },
    [self](fleet_atom, telescope_entry& e, const std::string&) {
      auto& st = self->state;
      auto from = caf::actor_cast<caf::actor_addr>(self->current_sender());
      // Entries of a link that is not (or no longer) up wait for the
      // handshake's full list.
      if (st.up && st.edge && from == st.edge.address()) adopt(self, e);
    },
    [self](caf::get_atom) -> caf::result<bool, std::string, uint64_t> {
      auto& st = self->state;
      return {st.up, st.node, static_cast<uint64_t>(st.telescopes.size())};
    },
  };
}

} // namespace scopehub

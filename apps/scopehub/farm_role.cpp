#include "apps/scopehub/farm_role.hpp"

#include <cstdio>
#include <fstream>
#include <string>

#include <spdlog/spdlog.h>

#include "actors/farm.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"

namespace scopehub::app {

namespace {

std::chrono::milliseconds ms(caf::timespan x) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(x);
}

} // namespace

bool start_farm(caf::actor_system& sys, const config& cfg,
                const caf::actor& directory, farm_nodes& out) {
  if (cfg.farm_role == "standalone") return true;
  auto secret = cfg.farm_secret;
  if (!cfg.farm_secret_file.empty()) {
    std::ifstream in{cfg.farm_secret_file};
    if (!in || !std::getline(in, secret) || secret.empty()) {
      spdlog::critical("farm.secret-file: cannot read a secret from {}",
                       cfg.farm_secret_file);
      return false;
    }
    while (!secret.empty() && secret.back() == '\r')
      secret.pop_back();
  }
  if (cfg.farm_role == "edge") {
    farm_edge_config ec;
    ec.node = cfg.farm_node;
    ec.secret = secret;
    ec.directory = directory;
    out.edge = sys.spawn(farm_edge_actor, ec);
    auto port = sys.middleman().publish(out.edge, cfg.farm_port,
                                        cfg.farm_host.c_str(), true);
    if (!port) {
      spdlog::critical("farm: cannot publish the edge on {}:{}: {}",
                       cfg.farm_host, cfg.farm_port, sys.render(port.error()));
      return false;
    }
    spdlog::info("farm: edge {} publishes its telescopes on {}:{} "
                 "(message set {})",
                 cfg.farm_node, cfg.farm_host, *port,
                 farm_message_set_digest());
    std::printf("scopehub farm link on %s:%u\n", cfg.farm_host.c_str(),
                static_cast<unsigned>(*port));
    std::fflush(stdout);
    return true;
  }
  for (const auto& e : cfg.farm_edges) {
    auto colon = e.rfind(':');
    auto port = std::stoul(e.substr(colon + 1));
    if (port == 0 || port > 65535) {
      spdlog::critical("farm.edges: bad port in \"{}\"", e);
      return false;
    }
    farm_link_config lc;
    lc.host = e.substr(0, colon);
    lc.port = static_cast<uint16_t>(port);
    lc.secret = secret;
    lc.name = cfg.farm_node.empty() ? "gateway" : cfg.farm_node;
    lc.directory = directory;
    lc.history = cfg.history;
    lc.handshake_timeout = ms(cfg.farm_handshake_timeout);
    lc.backoff_base = ms(cfg.farm_backoff_base);
    lc.backoff_cap = ms(cfg.farm_backoff_cap);
    out.links.push_back(sys.spawn(farm_link_actor, lc));
  }
  spdlog::info("farm: gateway linking to {} edge(s)", cfg.farm_edges.size());
  return true;
}

void stop_farm(caf::scoped_actor& self, farm_nodes& nodes) {
  for (auto& link : nodes.links)
    self->send_exit(link, caf::exit_reason::user_shutdown);
  nodes.links.clear();
  if (nodes.edge) {
    self->send_exit(nodes.edge, caf::exit_reason::user_shutdown);
    nodes.edge = caf::actor{};
  }
}

} // namespace scopehub::app

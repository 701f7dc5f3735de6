#include "apps/scopehub/server.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include "actors/directory.hpp"
#include "actors/heartbeat_supervisor.hpp"
#include "actors/messages.hpp"
#include "actors/session.hpp"
#include "actors/telescope.hpp"
#include "actors/topic.hpp"
#include "caf/all.hpp"
#include "net/line_link.hpp"
#include "net/listener.hpp"
#include "net/udp_discovery.hpp"
#include "protocol/glob.hpp"
#include "sim/simulator.hpp"

namespace scopehub::app {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

milliseconds ms(caf::timespan x) { return duration_cast<milliseconds>(x); }

/// The value of `key` in a query string ("a=1&b=2"), or "".
std::string query_param(const std::string& query, const std::string& key) {
  size_t pos = 0;
  while (pos <= query.size()) {
    auto end = query.find('&', pos);
    if (end == std::string::npos) end = query.size();
    auto eq = query.find('=', pos);
    if (eq != std::string::npos && eq < end
        && query.compare(pos, eq - pos, key) == 0)
      return query.substr(eq + 1, end - eq - 1);
    pos = end + 1;
  }
  return {};
}

/// A one-shot actor answering `GET /api/ws/health` from the directory's
/// numbers (spawned per request: health is rare and must not block Asio).
caf::behavior health_probe(caf::event_based_actor* self, caf::actor directory,
                           net::health_reply reply,
                           std::shared_ptr<const net::net_counters> counters,
                           std::chrono::steady_clock::time_point started) {
  self->request(directory, std::chrono::seconds{2}, caf::get_atom_v)
    .then(
      [=](uint64_t total, uint64_t online, uint64_t) {
        auto uptime = std::chrono::duration_cast<std::chrono::seconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
        uint64_t conns = counters ? counters->websockets_open.load() : 0;
        reply(200, "{\"status\":\"ok\",\"uptime_s\":" + std::to_string(uptime)
                     + ",\"connections\":" + std::to_string(conns)
                     + ",\"telescopes\":{\"total\":" + std::to_string(total)
                     + ",\"online\":" + std::to_string(online)
                     + "},\"version\":\"" + SCOPEHUB_VERSION + "\"}");
        self->quit();
      },
      [=](caf::error&) {
        reply(503, R"({"status":"unavailable"})");
        self->quit();
      });
  return {};
}

class server {
 public:
  server(caf::actor_system& sys, const config& cfg)
    : sys_(sys), cfg_(cfg), ioc_(static_cast<int>(cfg.io_threads)) {
    // nop
  }

  int run() {
    signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
      if (!ec) stopped_.set_value(sig);
    });
    directory_ = sys_.spawn(directory_actor, directory_config{});
    supervisor_cfg_.tick = ms(cfg_.tick);
    supervisor_
      = sys_.spawn(heartbeat_supervisor, supervisor_cfg_,
                   telescope_spawner{[this](const telescope_spec& spec,
                                            std::vector<caf::actor> topics) {
                     return spawn_telescope(spec, std::move(topics));
                   }});
    if (!start_simulators() || !start_external() || !start_discovery())
      return stop(1);
    if (!start_listener()) return stop(1);
    wait_for_signal();
    return stop(0);
  }

 private:
  bool start_simulators() {
    for (size_t i = 1; i <= cfg_.sim_count; ++i) {
      char id[32];
      std::snprintf(id, sizeof(id), "seestar-%03zu", i);
      sim::options opt;
      opt.name = id;
      opt.time_scale = cfg_.sim_time_scale;
      opt.battery_drain_pct_per_min = cfg_.sim_battery_drain;
      if (!cfg_.sim_faults.empty()) {
        std::string err;
        auto plan = sim::fault_plan::parse(cfg_.sim_faults, &err);
        if (!plan) {
          spdlog::critical("sim.faults: {}", err);
          return false;
        }
        opt.faults = *plan;
      }
      try {
        auto s = std::make_unique<sim::simulator>(ioc_, opt);
        s->start();
        spdlog::info("simulated Seestar {} on 127.0.0.1:{}", id, s->port());
        add_telescope(id, "127.0.0.1", s->port(), "Simulated Seestar S50",
                      "sim");
        sims_.push_back(std::move(s));
      } catch (const std::exception& e) {
        spdlog::critical("cannot start simulator {}: {}", id, e.what());
        return false;
      }
    }
    return true;
  }

  bool start_external() {
    for (auto& entry : cfg_.connect) {
      auto eq = entry.find('=');
      auto colon = entry.rfind(':');
      auto id = entry.substr(0, eq);
      auto host = entry.substr(eq + 1, colon - eq - 1);
      auto port = std::stoi(entry.substr(colon + 1));
      if (!protocol::valid_telescope_id(id) || port <= 0 || port > 65535) {
        spdlog::critical("telescopes.connect: bad entry \"{}\"", entry);
        return false;
      }
      add_telescope(id, host, static_cast<uint16_t>(port), "", "config");
    }
    return true;
  }

  bool start_discovery() {
    if (cfg_.discover.empty()) return true;
    net::discovery_options opts;
    opts.targets = cfg_.discover;
    opts.interval = ms(cfg_.discover_interval);
    discovery_ = std::make_unique<net::udp_discovery>(
      ioc_, opts, [this](const net::discovered_scope& found) {
        // Runs on Asio: hand over by message; the supervisor dedups ids.
        add_telescope(found.id, found.host, found.port,
                      found.model + " " + found.serial, "discovery");
      });
    if (auto err = discovery_->start(); !err.empty()) {
      spdlog::critical("{}", err);
      return false;
    }
    return true;
  }

  void add_telescope(const std::string& id, const std::string& host,
                     uint16_t port, const std::string& name,
                     const char* origin) {
    telescope_spec spec;
    spec.id = id;
    spec.name = name.empty() ? id : name;
    spec.model = "Seestar S50";
    spec.host = host;
    spec.port = port;
    spec.origin = origin;
    caf::anon_send(supervisor_, supervise_atom_v, spec);
  }

  /// The supervisor's way to (re)create a telescope: runs in the
  /// supervisor only, so it needs no lock.
  telescope_entry spawn_telescope(const telescope_spec& spec,
                                  std::vector<caf::actor> topics) {
    telescope_config tc;
    tc.id = spec.id;
    tc.name = spec.name;
    tc.model = spec.model;
    tc.host = spec.host;
    tc.port = spec.port;
    tc.connect_timeout = ms(cfg_.connect_timeout);
    tc.poll_interval = ms(cfg_.poll_interval);
    tc.stall_timeout = ms(cfg_.stall_timeout);
    tc.message_timeout = ms(cfg_.message_timeout);
    tc.long_operation_timeout = ms(cfg_.long_operation_timeout);
    tc.backoff_base = ms(cfg_.backoff_base);
    tc.backoff_cap = ms(cfg_.backoff_cap);
    tc.dedup_window = ms(cfg_.dedup_window);
    if (topics.empty())
      for (auto cat : protocol::all_categories) {
        topic_config cfg;
        cfg.telescope_id = spec.id;
        cfg.category = cat;
        cfg.history_size = cfg_.history;
        topics.push_back(sys_.spawn(topic_actor, cfg));
      }
    telescope_entry entry;
    entry.telescope = scopehub::spawn_telescope(
      sys_, tc, net::make_line_link_factory(ioc_), directory_, topics);
    entry.topics = std::move(topics);
    entry.info.id = spec.id;
    entry.info.name = spec.name;
    entry.info.model = spec.model;
    entry.info.host = spec.host;
    entry.info.port = spec.port;
    entry.info.node = tc.node;
    entry.info.reason = "connecting";
    caf::anon_send(directory_, register_atom_v, entry.info, entry.telescope,
                   entry.topics);
    return entry;
  }

  bool start_listener() {
    net::listener_options opts;
    opts.address = cfg_.host;
    opts.port = cfg_.port;
    opts.ws.max_message_size = cfg_.max_message_size;
    opts.ws.write_queue_limit_bytes = cfg_.write_queue_limit;
    // Beast pings a client idle for half of this, so pongs keep a quiet
    // client (one waiting for a long goto) alive well before stale-after,
    // while our own 4001 close comes before Beast would drop the socket.
    opts.ws.idle_timeout = ms(cfg_.stale_after + cfg_.heartbeat_interval);
    net::http_hooks hooks;
    hooks.on_websocket = [this](std::shared_ptr<net::ws_pipe> pipe,
                                const net::upgrade_info& up) {
      session_config sc;
      sc.id = "s" + std::to_string(++session_counter_);
      sc.peer = up.peer;
      sc.identity = query_param(up.query, "client_id");
      if (!sc.identity.empty()) sc.identity = "client:" + sc.identity;
      sc.role = cfg_.open_role;
      sc.bound_telescope = up.telescope_id;
      sc.heartbeat_interval = ms(cfg_.heartbeat_interval);
      sc.stale_after = ms(cfg_.stale_after);
      return sys_.spawn(session_actor, sc, std::weak_ptr<net::ws_pipe>{pipe},
                        directory_, supervisor_);
    };
    hooks.on_health = [this](net::health_reply reply) {
      sys_.spawn(health_probe, directory_, std::move(reply),
                 listener_ ? listener_->counters() : nullptr, started_);
    };
    listener_ = std::make_unique<net::listener>(ioc_, opts, std::move(hooks));
    auto port = listener_->start();
    if (!port) {
      spdlog::critical("cannot listen on {}:{}: {}", cfg_.host, cfg_.port,
                       sys_.render(port.error()));
      return false;
    }
    for (size_t i = 0; i < cfg_.io_threads; ++i)
      io_threads_.emplace_back([this] { ioc_.run(); });
    spdlog::info("open mode: no tokens configured, every client is {}",
                 cfg_.open_role);
    std::printf("scopehub listening on %s:%u\n", cfg_.host.c_str(),
                static_cast<unsigned>(*port));
    std::fflush(stdout);
    return true;
  }

  /// Blocks until SIGINT or SIGTERM (the handler is installed before the
  /// port is announced, so a signal right after it is never lost).
  void wait_for_signal() {
    auto sig = stopped_.get_future().get();
    spdlog::info("signal {}: shutting down", sig);
  }

  /// Stops everything in order; returns `rc`.
  int stop(int rc) {
    if (listener_) listener_->stop();
    // Tell every client, then give them a moment to close cleanly.
    caf::anon_send(supervisor_, caf::close_atom_v, uint16_t{1001},
                   std::string{"server shutting down"});
    auto deadline = std::chrono::steady_clock::now() + cfg_.shutdown_grace;
    caf::scoped_actor self{sys_};
    while (std::chrono::steady_clock::now() < deadline) {
      uint64_t sessions = 0;
      self->request(supervisor_, std::chrono::seconds{1}, caf::get_atom_v)
        .receive([&](uint64_t n, uint64_t) { sessions = n; },
                 [&](caf::error&) { sessions = 0; });
      if (sessions == 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    for (auto& s : sims_)
      boost::asio::post(ioc_, [p = s.get()] { p->stop(); });
    if (discovery_) discovery_->stop();
    ioc_.stop();
    for (auto& t : io_threads_)
      t.join();
    listener_.reset();
    discovery_.reset();
    sims_.clear();
    // Pipes are gone, so sessions got `closed`; the supervisor stops the
    // telescopes, their topics and any session left.
    self->send(supervisor_, caf::delete_atom_v);
    self->send_exit(directory_, caf::exit_reason::user_shutdown);
    directory_ = caf::actor{};
    supervisor_ = caf::actor{};
    spdlog::info("stopped");
    return rc;
  }

  caf::actor_system& sys_;
  const config& cfg_;
  boost::asio::io_context ioc_;
  std::vector<std::thread> io_threads_;
  boost::asio::signal_set signals_{ioc_, SIGINT, SIGTERM};
  std::promise<int> stopped_;
  std::unique_ptr<net::listener> listener_;
  std::unique_ptr<net::udp_discovery> discovery_;
  std::vector<std::unique_ptr<sim::simulator>> sims_;
  caf::actor directory_;
  caf::actor supervisor_;
  supervisor_config supervisor_cfg_;
  std::atomic<uint64_t> session_counter_{0};
  std::chrono::steady_clock::time_point started_
    = std::chrono::steady_clock::now();
};

} // namespace

int run_server(caf::actor_system& sys, const config& cfg) {
  server srv{sys, cfg};
  return srv.run();
}

} // namespace scopehub::app

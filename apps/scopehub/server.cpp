#include "apps/scopehub/server.hpp"

#include "apps/scopehub/farm_role.hpp"
#include "apps/scopehub/http_api.hpp"
#include "apps/scopehub/http_probes.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <iterator>
#include <map>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <rapidjson/document.h>
#include <spdlog/spdlog.h>

#include "actors/admission.hpp"
#include "actors/audit.hpp"
#include "actors/auth.hpp"
#include "actors/directory.hpp"
#include "actors/features.hpp"
#include "actors/heartbeat_supervisor.hpp"
#include "actors/messages.hpp"
#include "actors/session.hpp"
#include "actors/telescope.hpp"
#include "actors/topic.hpp"
#include "actors/web_sessions.hpp"
#include "caf/all.hpp"
#include "net/line_link.hpp"
#include "net/listener.hpp"
#include "net/sse_pipe.hpp"
#include "net/tls_context.hpp"
#include "net/udp_discovery.hpp"
#include "protocol/glob.hpp"
#include "protocol/json_read.hpp"
#include "sim/simulator.hpp"
#include "web/assets.hpp"

namespace scopehub::app {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

milliseconds ms(caf::timespan x) { return duration_cast<milliseconds>(x); }

/// net::http_hooks::find_asset over the embedded debug page (web/).
bool find_web_asset(std::string_view name, std::string_view& body,
                    std::string_view& type) {
  const auto* a = web::find_asset(name.empty() ? "index.html" : name);
  if (a == nullptr) return false;
  body = a->body;
  type = a->content_type;
  return true;
}

class server {
 public:
  server(caf::actor_system& sys, const config& cfg)
    : sys_(sys), cfg_(cfg), ioc_(static_cast<int>(cfg.io_threads)) {
    // nop
  }

  int run() {
    if (cfg_.hash_token) return hash_token();
    if (auto table = auth::token_table::parse(cfg_.tokens)) {
      tokens_ = std::move(*table);
    } else {
      spdlog::critical("auth.tokens: invalid"); // validate() said why
      return 2;
    }
    if (!load_tls()) return 2;
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
    if (!start_simulators() || !start_external() || !start_discovery()
        || !start_farm())
      return stop(1);
    if (!start_listener()) return stop(1);
    wait_for_signal();
    return stop(0);
  }

 private:
  /// `scopehub --hash-token`: SHA-256 hex of stdin (trailing newlines
  /// removed) on stdout.
  static int hash_token() {
    std::string token{std::istreambuf_iterator<char>{std::cin},
                      std::istreambuf_iterator<char>{}};
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r'))
      token.pop_back();
    if (token.empty()) {
      std::fprintf(stderr, "scopehub --hash-token: no token on stdin\n");
      return 2;
    }
    std::printf("%s\n", auth::sha256_hex(token).c_str());
    std::fflush(stdout);
    return 0;
  }

  /// Builds the TLS context when tls.cert-file and tls.key-file are set
  /// (config::validate checked that they come together). False, with the
  /// reason logged, when a file is unreadable or the key is not the
  /// certificate's: the server must not start half-secure.
  bool load_tls() {
    if (cfg_.tls_cert_file.empty()) {
      spdlog::info("TLS off: plain http:// and ws:// (set tls.cert-file and "
                   "tls.key-file for TLS)");
      return true;
    }
    net::tls_options opts;
    opts.cert_file = cfg_.tls_cert_file;
    opts.key_file = cfg_.tls_key_file;
    opts.min_version = cfg_.tls_min_version;
    std::string err;
    tls_ = net::make_tls_context(opts, &err);
    if (!tls_) {
      spdlog::critical("cannot set up TLS: {}", err);
      return false;
    }
    spdlog::info("TLS on: certificate {}, TLS {}+; the port serves https:// "
                 "and wss:// only",
                 cfg_.tls_cert_file, cfg_.tls_min_version);
    return true;
  }

  /// The authorize hook: credentials, telescope scope of a bound path,
  /// then the connection caps (admission actor). Runs on an Asio thread.
  void authorize(const net::upgrade_info& up, net::authorize_reply reply) {
    if (is_event_stream(up.path)
        && !features::enabled(features::flag::sse_fallback)) {
      net::authorization out;
      out.status = 404;
      out.body = error_json("NOT_FOUND", "event streams are off (feature "
                                         "sse_fallback)");
      return reply(std::move(out));
    }
    auto g = std::make_shared<grant>();
    std::string cookie;
    if (tokens_.empty()) {
      g->role = cfg_.open_role;
      auto client = auth::query_param(up.query, "client_id");
      if (!client.empty()) g->identity = "client:" + client;
    } else {
      std::string token;
      if (auto i = up.headers.find("authorization"); i != up.headers.end())
        token = auth::bearer_token(i->second);
      if (token.empty()) token = auth::query_param(up.query, "token");
      if (auto c = up.headers.find("cookie");
          token.empty() && c != up.headers.end())
        cookie = cookie_value(c->second, cookie_name);
      if (!cookie.empty()) {
        // A browser's cookie rides along on any page's request: only
        // allowed origins may use it (checked before the session store).
        if (!origin_allowed(up.headers)) {
          spdlog::warn("auth failure: cookie upgrade from {} with origin "
                       "\"{}\" refused",
                       up.peer, header(up.headers, "origin"));
          audit::auth_failure(up.peer, up.path, "origin",
                              "origin \"" + header(up.headers, "origin")
                                + "\" not allowed");
          net::authorization out;
          out.status = 403;
          out.body = error_json("FORBIDDEN", "origin not allowed");
          return reply(std::move(out));
        }
        sys_.spawn(admit_probe, admission_, address_of(up.peer), std::move(g),
                   std::move(reply), web_sessions_, cookie, up.telescope_id);
        return;
      }
      const auto* entry = tokens_.find(token);
      if (entry == nullptr) {
        spdlog::warn("auth failure: {} token from {} for {}",
                     token.empty() ? "missing" : "invalid", up.peer, up.path);
        audit::auth_failure(up.peer, up.path,
                            token.empty() ? "missing_token" : "invalid_token",
                            {});
        net::authorization out;
        out.status = 401;
        out.body
          = error_json("UNAUTHORIZED",
                       token.empty() ? "credentials required: Authorization: "
                                       "Bearer <token> or ?token="
                                     : "invalid token");
        return reply(std::move(out));
      }
      if (!up.telescope_id.empty()
          && !auth::telescope_allowed(entry->telescopes, up.telescope_id)) {
        spdlog::warn("auth failure: token {} from {} may not see {}",
                     entry->label, up.peer, up.telescope_id);
        audit::auth_failure(up.peer, up.path, "scope",
                            "token " + entry->label + " may not see "
                              + up.telescope_id);
        net::authorization out;
        out.status = 403;
        out.body = error_json("FORBIDDEN", "this token may not see telescope "
                                             + up.telescope_id);
        return reply(std::move(out));
      }
      g->role = entry->role;
      g->identity = "token:" + entry->label;
      g->telescopes = entry->telescopes;
    }
    sys_.spawn(admit_probe, admission_, address_of(up.peer), std::move(g),
               std::move(reply), web_sessions_, std::string{}, std::string{});
  }

  /// A session's config for a client with grant `g` (WebSocket, event
  /// stream, or one REST command).
  session_config session_config_for(const grant& g,
                                    const net::upgrade_info& up) {
    session_config sc;
    sc.id = session_prefix_ + std::to_string(++session_counter_);
    sc.peer = up.peer;
    sc.identity = g.identity;
    sc.role = g.role;
    sc.telescopes = g.telescopes;
    sc.admission = g.ticket;
    sc.message_rate = cfg_.message_rate;
    sc.message_burst = cfg_.message_burst;
    sc.rate_abuse_limit = cfg_.rate_abuse_limit;
    sc.max_subscriptions = cfg_.max_subscriptions;
    sc.max_pending_commands = cfg_.max_pending_commands;
    sc.backlog_soft_limit = cfg_.backlog_soft_limit;
    sc.bound_telescope = up.telescope_id;
    sc.heartbeat_interval = ms(cfg_.heartbeat_interval);
    sc.stale_after = ms(cfg_.stale_after);
    sc.delta_updates = features::enabled(features::flag::delta_updates);
    sc.close_listener = supervisor_;
    if (is_event_stream(up.path)) {
      sc.transport = metrics::transport::sse;
      // Last-Event-ID ("position:120,system:33") resumes like resume_from.
      for (auto& [name, seq] :
           net::parse_event_id(header(up.headers, "last-event-id")))
        if (auto cat = protocol::category_from_string(name))
          sc.resume[*cat] = seq;
    }
    if (sc.identity.empty() && up.path.rfind("/api/telescopes", 0) == 0) {
      // REST and SSE clients without a token or client_id: one identity
      // per address, so an Idempotency-Key works across requests.
      sc.identity = "http:" + address_of(up.peer);
    }
    return sc;
  }

  static bool is_event_stream(const std::string& path) {
    constexpr std::string_view suffix = "/events";
    return path.size() > suffix.size()
           && path.compare(path.size() - suffix.size(), suffix.size(), suffix)
                == 0;
  }

  static std::string header(const std::map<std::string, std::string>& hs,
                            const char* name) {
    auto i = hs.find(name);
    return i == hs.end() ? std::string{} : i->second;
  }

  /// True when the request's Origin is in auth.origins.
  bool origin_allowed(const std::map<std::string, std::string>& hs) const {
    auto origin = header(hs, "origin");
    return !origin.empty()
           && std::find(cfg_.origins.begin(), cfg_.origins.end(), origin)
                != cfg_.origins.end();
  }

  /// POST /api/session {"token": "..."}: a cookie for a browser; DELETE
  /// /api/session: revoke it. Runs on an Asio thread.
  void on_session(const net::http_request_info& req, net::http_reply reply) {
    net::http_answer out;
    if (tokens_.empty()) {
      out.status = 404;
      out.body = error_json("NOT_FOUND", "open mode: no tokens, no sessions");
      return reply(std::move(out));
    }
    if (req.method == "DELETE") {
      auto id = cookie_value(header(req.headers, "cookie"), cookie_name);
      sys_.spawn(logout_probe, web_sessions_, id, std::move(reply));
      return;
    }
    // A browser page from another origin must not log in for the user.
    if (!header(req.headers, "origin").empty()
        && !origin_allowed(req.headers)) {
      spdlog::warn("auth failure: POST /api/session from {} with origin "
                   "\"{}\" refused",
                   req.peer, header(req.headers, "origin"));
      audit::auth_failure(req.peer, "POST /api/session", "origin",
                          "origin \"" + header(req.headers, "origin")
                            + "\" not allowed");
      out.status = 403;
      out.body = error_json("FORBIDDEN", "origin not allowed");
      return reply(std::move(out));
    }
    // Before authentication: the same depth-checked reader as frames.
    rapidjson::Document doc;
    auto bad = protocol::read_json_object(
      reinterpret_cast<const uint8_t*>(req.body.data()), req.body.size(), doc);
    if (bad || !doc.HasMember("token") || !doc["token"].IsString()) {
      out.status = 400;
      out.body = error_json("INVALID_MESSAGE", "body must be {\"token\": "
                                               "\"...\"}");
      return reply(std::move(out));
    }
    const auto* entry = tokens_.find(doc["token"].GetString());
    if (entry == nullptr) {
      spdlog::warn("auth failure: invalid token in POST /api/session from {}",
                   req.peer);
      audit::auth_failure(req.peer, "POST /api/session", "invalid_token", {});
      out.status = 401;
      out.body = error_json("UNAUTHORIZED", "invalid token");
      return reply(std::move(out));
    }
    sys_.spawn(login_probe, web_sessions_, *entry, ms(cfg_.session_ttl).count(),
               std::move(reply));
  }

  bool start_simulators() {
    for (size_t i = 1; i <= cfg_.sim_count; ++i) {
      char num[16];
      std::snprintf(num, sizeof(num), "%03zu", i);
      auto id = cfg_.sim_id_prefix + num;
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
        auto s = std::make_unique<sim::simulator>(sim_ioc_, opt);
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
    // The simulators are single-threaded code (like the devices they
    // stand in for): they get their own Asio thread, apart from the
    // server's io-threads, and talk to the server over loopback TCP only.
    if (!sims_.empty()) sim_thread_ = std::thread{[this] { sim_ioc_.run(); }};
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

  bool start_farm() { return app::start_farm(sys_, cfg_, directory_, farm_); }

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
    tc.max_calls_in_flight = cfg_.max_calls_in_flight;
    if (cfg_.farm_role == "edge") tc.node = cfg_.farm_node;
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
    opts.ws.inbound_window = cfg_.inbound_window;
    opts.send_buffer = static_cast<int>(cfg_.send_buffer);
    opts.connect.rate = cfg_.connect_rate;
    opts.connect.burst = cfg_.connect_burst;
    opts.connect.exempt = cfg_.per_address_exempt;
    // Beast pings a client idle for half of this, so pongs keep a quiet
    // client (one waiting for a long goto) alive well before stale-after,
    // while our own 4001 close comes before Beast would drop the socket.
    opts.ws.idle_timeout = ms(cfg_.stale_after + cfg_.heartbeat_interval);
    opts.read_timeout = ms(cfg_.handshake_timeout);
    opts.tls = tls_;
    opts.cors_origins = cfg_.cors_origins;
    opts.sse_retry_ms = static_cast<uint32_t>(ms(cfg_.sse_retry).count());
    opts.api_timeout
      = ms(cfg_.long_operation_timeout) + std::chrono::minutes{2};
    opts.ws.deflate_switch = features::switch_of(features::flag::compression);
    opts.ws.deflate_window_bits = cfg_.deflate_window_bits;
    opts.ws.deflate_mem_level = cfg_.deflate_mem_level;
    net::http_hooks hooks;
    admission_limits limits;
    limits.max_connections = cfg_.max_connections;
    limits.max_per_address = cfg_.max_connections_per_address;
    limits.exempt = cfg_.per_address_exempt;
    admission_ = sys_.spawn(admission_actor, limits);
    web_sessions_ = sys_.spawn(web_sessions_actor, size_t{10000});
    hooks.on_session
      = [this](const net::http_request_info& req, net::http_reply reply) {
          on_session(req, std::move(reply));
        };
    hooks.authorize
      = [this](const net::upgrade_info& up, net::authorize_reply reply) {
          authorize(up, std::move(reply));
        };
    hooks.on_websocket = [this](std::shared_ptr<net::ws_pipe> pipe,
                                const net::upgrade_info& up) {
      auto g = std::static_pointer_cast<const grant>(up.grant);
      if (!g) return caf::actor{}; // not authorized: closes 1013
      return sys_.spawn(session_actor, session_config_for(*g, up),
                        std::weak_ptr<net::ws_pipe>{pipe}, directory_,
                        supervisor_);
    };
    api_.sys = &sys_;
    api_.directory = directory_;
    api_.supervisor = supervisor_;
    api_.session_config_for
      = [this](const grant& g, const net::upgrade_info& up) {
          return session_config_for(g, up);
        };
    api_.command_wait
      = ms(cfg_.long_operation_timeout) + std::chrono::minutes{1};
    api_.gate = sys_.spawn(rest_gate, cfg_.message_rate, cfg_.message_burst);
    hooks.on_api = [this](net::api_request req, net::http_reply reply) {
      handle_api(api_, std::move(req), std::move(reply));
    };
    hooks.find_asset = find_web_asset;
    hooks.on_metrics = [this](net::health_reply reply) {
      sys_.spawn(metrics_probe, directory_, std::move(reply),
                 listener_ ? listener_->counters() : nullptr);
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
    if (tokens_.empty())
      spdlog::warn("open mode: no tokens configured, every client is {}{}",
                   cfg_.open_role,
                   config::is_loopback(cfg_.host)
                     ? std::string{" (loopback only)"}
                     : " on non-loopback host " + cfg_.host + " (--insecure)");
    else
      spdlog::info("token mode: {} tokens configured, clients authenticate "
                   "with Authorization: Bearer or ?token=",
                   tokens_.size());
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
    // Telescopes go first, while Asio still runs: a reconnecting telescope
    // must never open a device link on an io_context that is going away.
    std::vector<caf::actor> stopped;
    self->request(supervisor_, std::chrono::seconds{2}, caf::delete_atom_v)
      .receive([&](std::vector<caf::actor>& xs) { stopped = std::move(xs); },
               [&](caf::error&) {});
    for (auto& a : stopped)
      self->monitor(a);
    for (size_t downs = 0, timeouts = 0;
         downs < stopped.size() && timeouts == 0;)
      self->receive([&](caf::down_msg&) { ++downs; },
                    caf::after(std::chrono::seconds{2}) >> [&] { ++timeouts; });
    for (auto& s : sims_)
      boost::asio::post(sim_ioc_, [p = s.get()] { p->stop(); });
    if (discovery_) discovery_->stop();
    ioc_.stop();
    for (auto& t : io_threads_)
      t.join();
    sim_ioc_.stop();
    if (sim_thread_.joinable()) sim_thread_.join();
    listener_.reset();
    discovery_.reset();
    sims_.clear();
    // Pipes are gone, so sessions got `closed`; the supervisor stopped
    // the telescopes, their topics and any session left.
    stop_farm(self, farm_);
    self->send_exit(directory_, caf::exit_reason::user_shutdown);
    if (admission_)
      self->send_exit(admission_, caf::exit_reason::user_shutdown);
    if (web_sessions_)
      self->send_exit(web_sessions_, caf::exit_reason::user_shutdown);
    if (api_.gate) self->send_exit(api_.gate, caf::exit_reason::user_shutdown);
    api_ = api_context{};
    web_sessions_ = caf::actor{};
    directory_ = caf::actor{};
    admission_ = caf::actor{};
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
  std::shared_ptr<boost::asio::ssl::context> tls_; ///< null: plain TCP
  std::unique_ptr<net::listener> listener_;
  std::unique_ptr<net::udp_discovery> discovery_;
  boost::asio::io_context sim_ioc_{1}; ///< the simulators' own thread
  std::thread sim_thread_;
  std::vector<std::unique_ptr<sim::simulator>> sims_;
  caf::actor directory_;
  caf::actor supervisor_;
  caf::actor admission_;
  caf::actor web_sessions_;
  farm_nodes farm_; ///< the farm role's actors (none standalone)
  auth::token_table tokens_;
  supervisor_config supervisor_cfg_;
  std::atomic<uint64_t> session_counter_{0};
  /// Session ids are "s1", "s2", ... standalone. In a farm they key leases
  /// on the edges, so they must be unique across gateways: the node's name
  /// and a random tag per run come first ("gw-1.3fa9c2-s7").
  const std::string session_prefix_
    = cfg_.farm_role == "standalone"
        ? std::string{"s"}
        : (cfg_.farm_node.empty() ? std::string{"node"} : cfg_.farm_node) + "."
            + auth::random_hex(3) + "-s";
  api_context api_; ///< what the REST adapters use (set before listening)
  std::chrono::steady_clock::time_point started_
    = std::chrono::steady_clock::now();
};

} // namespace

int run_server(caf::actor_system& sys, const config& cfg) {
  server srv{sys, cfg};
  return srv.run();
}

} // namespace scopehub::app

#define CAF_SUITE telescope_sim
#include "caf/test/unit_test.hpp"

// The telescope actor against the simulator over real sockets on
// 127.0.0.1: a real actor system (real scheduler and clock), one Asio
// thread running both the simulator and the device link. Every wait is
// bounded; the simulator runs 20x faster than a real Seestar.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <rapidjson/document.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "actors/messages.hpp"
#include "actors/telescope.hpp"
#include "caf/all.hpp"
#include "net/line_link.hpp"
#include "protocol/status.hpp"
#include "sim/simulator.hpp"

using namespace scopehub;
using namespace std::chrono_literals;

namespace {

using std::chrono::milliseconds;

constexpr size_t pos_cat = 0; // protocol::all_categories order
constexpr size_t focus_cat = 1;
constexpr size_t imaging_cat = 2;
constexpr size_t system_cat = 3;

// -- log capture
// ----------------------------------------------------------------

/// Keeps every log line, so tests can assert that something was logged.
class capture_sink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  size_t count(const std::string& needle) {
    std::lock_guard<std::mutex> guard{lines_mx_};
    return static_cast<size_t>(
      std::count_if(lines_.begin(), lines_.end(), [&](const std::string& l) {
        return l.find(needle) != std::string::npos;
      }));
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::lock_guard<std::mutex> guard{lines_mx_};
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {
    // nop
  }

 private:
  std::mutex lines_mx_;
  std::vector<std::string> lines_;
};

std::shared_ptr<capture_sink> log_capture() {
  static std::shared_ptr<capture_sink> sink = [] {
    // Installed by the first fixture, before any thread logs.
    auto s = std::make_shared<capture_sink>();
    spdlog::default_logger()->sinks().push_back(s);
    return s;
  }();
  return sink;
}

// -- what the probes saw
// ------------------------------------------------------------

struct update {
  size_t cat;
  std::string json;
  bool full;
};

rapidjson::Document parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (doc.HasParseError() || !doc.IsObject()) doc.SetObject();
  return doc;
}

bool has_bool(const std::string& json, const char* key, bool value) {
  auto doc = parse(json);
  auto i = doc.FindMember(key);
  return i != doc.MemberEnd() && i->value.IsBool()
         && i->value.GetBool() == value;
}

std::optional<double> number_of(const std::string& json, const char* key) {
  auto doc = parse(json);
  auto i = doc.FindMember(key);
  if (i == doc.MemberEnd() || !i->value.IsNumber()) return std::nullopt;
  return i->value.GetDouble();
}

bool has_string(const std::string& json, const char* key,
                const std::string& value) {
  auto doc = parse(json);
  auto i = doc.FindMember(key);
  return i != doc.MemberEnd() && i->value.IsString()
         && value == i->value.GetString();
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

/// Shared between the probe actors and the test thread.
struct record {
  std::mutex mx;
  std::condition_variable cv;
  std::vector<update> updates;
  std::vector<telescope_info> states;

  template<class Pred>
  bool wait(Pred pred, milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mx};
    return cv.wait_for(guard, timeout, [&] { return pred(); });
  }

  /// Copies, for checks without holding the lock.
  std::vector<update> updates_of(size_t cat) {
    std::lock_guard<std::mutex> guard{mx};
    std::vector<update> out;
    for (auto& u : updates)
      if (u.cat == cat) out.push_back(u);
    return out;
  }

  std::vector<telescope_info> states_copy() {
    std::lock_guard<std::mutex> guard{mx};
    return states;
  }

  size_t full_count_locked(size_t cat) const {
    return static_cast<size_t>(
      std::count_if(updates.begin(), updates.end(),
                    [&](const update& u) { return u.cat == cat && u.full; }));
  }

  size_t online_count_locked(bool online) const {
    return static_cast<size_t>(
      std::count_if(states.begin(), states.end(), [&](const telescope_info& i) {
        return i.online == online;
      }));
  }

  /// A delta (not a snapshot) of `cat` after index `from` that satisfies p.
  template<class Pred>
  std::optional<size_t> find_delta_locked(size_t cat, size_t from,
                                          Pred p) const {
    for (size_t i = from; i < updates.size(); ++i)
      if (updates[i].cat == cat && !updates[i].full && p(updates[i].json))
        return i;
    return std::nullopt;
  }
};

caf::behavior topic_probe(caf::event_based_actor*, std::shared_ptr<record> rec,
                          size_t cat) {
  return {
    [rec, cat](update_atom, const std::string& json, bool full) {
      {
        std::lock_guard<std::mutex> guard{rec->mx};
        rec->updates.push_back(update{cat, json, full});
      }
      rec->cv.notify_all();
    },
  };
}

caf::behavior directory_probe(caf::event_based_actor*,
                              std::shared_ptr<record> rec) {
  return {
    [rec](state_atom, const telescope_info& info) {
      {
        std::lock_guard<std::mutex> guard{rec->mx};
        rec->states.push_back(info);
      }
      rec->cv.notify_all();
    },
  };
}

/// A progress notice received by the issuer.
struct progress {
  std::string id;
  std::string state;
  std::string detail;
};

caf::actor_system_config& test_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", size_t{2});
  add_message_types(cfg);
  return cfg;
}

struct config_holder {
  caf::actor_system_config cfg;
};

struct fixture : config_holder {
  caf::actor_system sys{test_config(cfg)};
  caf::scoped_actor self{sys};
  boost::asio::io_context ioc{1};
  std::optional<
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
    work;
  std::thread io_thread;
  std::unique_ptr<sim::simulator> sim;
  sim::options sim_opts;
  telescope_config tcfg;
  std::shared_ptr<record> rec = std::make_shared<record>();
  std::shared_ptr<capture_sink> logs = log_capture();
  caf::actor dir;
  std::vector<caf::actor> topics;
  caf::actor tel;
  int next_id = 1;

  fixture() {
    sim_opts.name = "sim-it";
    sim_opts.serial = "SIM0000IT";
    sim_opts.time_scale = 20;
    sim_opts.seed = 4242;
    tcfg.id = "scope-it";
    tcfg.name = "integration scope";
    tcfg.host = "127.0.0.1";
    tcfg.seed = 17;
    tcfg.connect_timeout = 1000ms;
    tcfg.poll_interval = 200ms;
    tcfg.stall_timeout = 1500ms;
    tcfg.sync_timeout = 1000ms;
    tcfg.message_timeout = 2000ms;
    tcfg.long_operation_timeout = 10000ms;
    tcfg.backoff_base = 100ms;
    tcfg.backoff_cap = 500ms;
  }

  /// Starts the simulator, the Asio thread, the probes and the telescope.
  void launch() {
    sim = std::make_unique<sim::simulator>(ioc, sim_opts);
    sim->start(); // before io runs: allowed
    tcfg.port = sim->port();
    work.emplace(ioc.get_executor());
    io_thread = std::thread{[this] { ioc.run(); }};
    dir = sys.spawn(directory_probe, rec);
    for (size_t i = 0; i < protocol::all_categories.size(); ++i)
      topics.push_back(sys.spawn(topic_probe, rec, i));
    tel = spawn_telescope(sys, tcfg, net::make_line_link_factory(ioc), dir,
                          topics);
  }

  ~fixture() {
    if (tel) {
      self->send_exit(tel, caf::exit_reason::user_shutdown);
      self->wait_for(tel);
    }
    for (auto& t : topics)
      self->send_exit(t, caf::exit_reason::user_shutdown);
    if (dir) self->send_exit(dir, caf::exit_reason::user_shutdown);
    if (sim) on_io([this] { sim->stop(); });
    work.reset();
    ioc.stop();
    if (io_thread.joinable()) io_thread.join();
    sim.reset();
    tel = caf::actor{};
    dir = caf::actor{};
    topics.clear();
    // ioc (its pending handlers hold the links), then self and sys go.
  }

  /// Runs f on the io thread (the simulator's thread) and waits for it.
  template<class F>
  void on_io(F f) {
    std::promise<void> done;
    auto fut = done.get_future();
    boost::asio::post(ioc, [&] {
      f();
      done.set_value();
    });
    if (fut.wait_for(5s) != std::future_status::ready)
      CAF_FAIL("io thread did not run a posted job within 5 s");
  }

  void set_faults(const std::string& spec) {
    auto plan = sim::fault_plan::parse(spec);
    CAF_REQUIRE(plan.has_value());
    on_io([&] { sim->set_faults(*plan); });
  }

  command_request make_request(const std::string& action,
                               const std::string& params, int64_t timeout_ms,
                               std::string id = {}) {
    command_request req;
    req.id = id.empty() ? "cmd-" + std::to_string(next_id++) : std::move(id);
    req.identity = "it-client";
    req.session = "it-session";
    req.role = "operator";
    req.action = action;
    req.params = params;
    req.timeout_ms = timeout_ms;
    return req;
  }

  /// Reply to a request (or REQUEST_FAILED when CAF gave up on it).
  template<class Handle>
  command_result await(Handle& handle) {
    command_result out;
    handle.receive([&](command_result& r) { out = std::move(r); },
                   [&](caf::error& e) {
                     out.error_code = "REQUEST_FAILED";
                     out.message = caf::to_string(e);
                   });
    return out;
  }

  /// Sends one command and waits for its single answer.
  command_result run(const std::string& action, const std::string& params,
                     int64_t timeout_ms = 0, std::string id = {}) {
    auto req = make_request(action, params, timeout_ms, std::move(id));
    auto budget = milliseconds{timeout_ms > 0 ? timeout_ms : 10000} + 5s;
    auto handle = self->request(tel, budget, command_atom_v, std::move(req));
    auto r = await(handle);
    CAF_MESSAGE(action << " -> " << (r.success ? "ok" : r.error_code) << " "
                       << r.message << " " << r.result << " (" << r.duration_ms
                       << " ms)");
    return r;
  }

  /// Progress notices already in the mailbox (the telescope sends them
  /// before the answer, so after an answer they are all here).
  std::vector<progress> drain_progress() {
    std::vector<progress> out;
    bool more = true;
    while (more)
      self->receive(
        [&](progress_atom, const std::string& id, const std::string& state,
            const std::string& detail) {
          out.push_back(progress{id, state, detail});
        },
        caf::after(0ms) >> [&] { more = false; });
    return out;
  }

  /// Waits for the next progress notice.
  std::optional<progress> next_progress(milliseconds timeout) {
    std::optional<progress> out;
    self->receive(
      [&](progress_atom, const std::string& id, const std::string& state,
          const std::string& detail) {
        out = progress{id, state, detail};
      },
      caf::after(timeout) >> [] {});
    return out;
  }

  bool wait_online(size_t times, milliseconds timeout = 5000ms) {
    return rec->wait([&] { return rec->online_count_locked(true) >= times; },
                     timeout);
  }

  /// Connected, synced and announced: every category has its snapshot.
  void launch_and_wait_online() {
    launch();
    CAF_REQUIRE(wait_online(1));
    CAF_REQUIRE(rec->wait(
      [&] {
        for (size_t c = 0; c < 4; ++c)
          if (rec->full_count_locked(c) < 1) return false;
        return true;
      },
      2000ms));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(telescope_sim_tests, fixture)

CAF_TEST(connect announces online and publishes full snapshots) {
  launch_and_wait_online();
  CAF_CHECK_EQUAL(sys.scheduler().num_workers(), 2u);
  auto states = rec->states_copy();
  CAF_REQUIRE_EQUAL(states.size(), 1u);
  CAF_CHECK(states[0].online);
  CAF_CHECK_EQUAL(states[0].id, "scope-it");
  CAF_CHECK_EQUAL(states[0].name, "integration scope");
  CAF_CHECK_EQUAL(states[0].model, "Seestar S50");
  CAF_CHECK_EQUAL(states[0].host, "127.0.0.1");
  CAF_CHECK_EQUAL(states[0].port, tcfg.port);
  CAF_CHECK_EQUAL(states[0].reason, "");
  auto full_of = [&](size_t cat) {
    for (auto& u : rec->updates_of(cat))
      if (u.full) return u.json;
    return std::string{};
  };
  auto pos = full_of(pos_cat);
  CAF_MESSAGE("position: " << pos);
  CAF_CHECK(has_bool(pos, "parked", true)); // the sim boots parked
  CAF_CHECK(has_bool(pos, "tracking", false));
  CAF_CHECK_EQUAL(number_of(pos, "ra").value_or(-1.0), 0.0);
  CAF_CHECK_EQUAL(number_of(pos, "dec").value_or(-1.0), 89.0);
  CAF_CHECK(number_of(pos, "alt").has_value());
  CAF_CHECK(number_of(pos, "az").has_value());
  auto focus = full_of(focus_cat);
  CAF_MESSAGE("focus: " << focus);
  CAF_CHECK_EQUAL(number_of(focus, "focus_position").value_or(-1.0), 1580.0);
  auto imaging = full_of(imaging_cat);
  CAF_MESSAGE("imaging: " << imaging);
  CAF_CHECK_EQUAL(number_of(imaging, "exposure_ms").value_or(-1.0), 10000.0);
  CAF_CHECK_EQUAL(number_of(imaging, "gain").value_or(-1.0), 80.0);
  CAF_CHECK(has_string(imaging, "view_state", "idle"));
  auto system = full_of(system_cat);
  CAF_MESSAGE("system: " << system);
  CAF_CHECK(has_bool(system, "connected", true));
  CAF_CHECK(has_string(system, "firmware", "5.82"));
  CAF_CHECK(has_string(system, "model", "Seestar S50"));
  CAF_CHECK_EQUAL(number_of(system, "battery_capacity").value_or(-1.0), 95.0);
  CAF_CHECK_EQUAL(number_of(system, "free_storage_mb").value_or(-1.0), 46854.0);
  CAF_CHECK(has_string(system, "charger_status", "Discharging"));
  auto temp = number_of(system, "temp");
  CAF_CHECK(temp && *temp >= 30.0 && *temp <= 60.0);
}

CAF_TEST(goto above the horizon completes with progress and slew deltas) {
  launch_and_wait_online();
  // dec +80 never sets at 50 N.
  auto r = run("goto", R"({"ra":12.0,"dec":80.0,"target_name":"north"})");
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.error_code, "");
  CAF_CHECK_EQUAL(r.result, R"({"status":"goto_complete"})");
  CAF_CHECK(!r.duplicate);
  auto ps = drain_progress();
  CAF_REQUIRE(!ps.empty());
  CAF_CHECK_EQUAL(ps.front().state, "accepted");
  CAF_CHECK_EQUAL(ps.front().detail, "{}");
  size_t working = 0;
  for (size_t i = 1; i < ps.size(); ++i) {
    CAF_CHECK_EQUAL(ps[i].state, "working");
    CAF_CHECK(number_of(ps[i].detail, "dist_deg").has_value());
    working += 1;
  }
  CAF_CHECK_GREATER_OR_EQUAL(working, 1u);
  for (auto& p : ps)
    CAF_CHECK_EQUAL(p.id, ps.front().id);
  // Position deltas: slewing true, later slewing false.
  CAF_CHECK(rec->wait(
    [&] {
      auto on = rec->find_delta_locked(pos_cat, 0, [](const std::string& j) {
        return has_bool(j, "slewing", true);
      });
      return on
             && rec->find_delta_locked(pos_cat, *on + 1,
                                       [](const std::string& j) {
                                         return has_bool(j, "slewing", false);
                                       });
    },
    2000ms));
  CAF_CHECK(rec->wait(
    [&] {
      return rec
        ->find_delta_locked(
          pos_cat, 0,
          [](const std::string& j) { return number_of(j, "dec") == 80.0; })
        .has_value();
    },
    2000ms));
}

CAF_TEST(goto below the horizon is refused by the device) {
  launch_and_wait_online();
  // dec -80 never rises at 50 N.
  auto r = run("goto", R"({"ra":3.0,"dec":-80.0})");
  CAF_CHECK(!r.success);
  CAF_CHECK_EQUAL(r.error_code, "INVALID_PARAMETERS");
  CAF_CHECK(contains(r.message, "below horizon"));
  CAF_CHECK_EQUAL(r.result, R"({"device_code":270})");
  CAF_CHECK(drain_progress().empty());
}

CAF_TEST(park completes and publishes parked) {
  launch_and_wait_online();
  // The sim boots parked: the first ScopeHome event unparks (close:false),
  // completion parks again.
  auto r = run("park", "{}");
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.result, R"({"status":"parked"})");
  // 15 device s at 20x: 750 ms.
  CAF_CHECK_GREATER_OR_EQUAL(r.duration_ms, 700);
  auto ps = drain_progress();
  CAF_REQUIRE_EQUAL(ps.size(), 1u);
  CAF_CHECK_EQUAL(ps[0].state, "accepted");
  CAF_CHECK(rec->wait(
    [&] {
      auto off = rec->find_delta_locked(pos_cat, 0, [](const std::string& j) {
        return has_bool(j, "parked", false);
      });
      return off
             && rec->find_delta_locked(pos_cat, *off + 1,
                                       [](const std::string& j) {
                                         return has_bool(j, "parked", true);
                                       });
    },
    2000ms));
}

CAF_TEST(focus moves absolute and relative and refuses out of range) {
  launch_and_wait_online();
  auto r = run("focus", R"({"position":1600})");
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.result, R"({"status":"focus_complete"})");
  CAF_CHECK_EQUAL(drain_progress().size(), 1u); // accepted
  auto saw_focus = [&](double pos) {
    return rec->wait(
      [&] {
        return rec
          ->find_delta_locked(focus_cat, 0,
                              [&](const std::string& j) {
                                return number_of(j, "focus_position") == pos;
                              })
          .has_value();
      },
      2000ms);
  };
  CAF_CHECK(saw_focus(1600));
  r = run("focus_increment", R"({"increment":-100})");
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.result, R"({"status":"focus_complete"})");
  CAF_CHECK_EQUAL(drain_progress().size(), 1u);
  CAF_CHECK(saw_focus(1500));
  // The focus topic saw 1600 before 1500.
  {
    std::vector<double> seen;
    for (auto& u : rec->updates_of(focus_cat))
      if (auto p = number_of(u.json, "focus_position"); p && !u.full)
        seen.push_back(*p);
    CAF_CHECK(std::find(seen.begin(), seen.end(), 1600.0)
              < std::find(seen.begin(), seen.end(), 1500.0));
  }
  // Wait until the focuser reported idle, then refuse 1500 - 2000.
  CAF_CHECK(rec->wait(
    [&] {
      auto& us = rec->updates;
      for (auto i = us.rbegin(); i != us.rend(); ++i)
        if (i->cat == focus_cat && contains(i->json, "focuser_moving"))
          return has_bool(i->json, "focuser_moving", false);
      return false;
    },
    2000ms));
  auto before = rec->updates_of(focus_cat).size();
  r = run("focus_increment", R"({"increment":-2000})");
  CAF_CHECK(!r.success);
  CAF_CHECK_EQUAL(r.error_code, "INVALID_PARAMETERS");
  CAF_CHECK(contains(r.message, "outside [0, 2600]"));
  CAF_CHECK(drain_progress().empty());
  // Nothing was sent: a move_focuser would show as focuser_moving.
  std::this_thread::sleep_for(300ms);
  CAF_CHECK_EQUAL(rec->updates_of(focus_cat).size(), before);
}

CAF_TEST(imaging starts after the first frame and stops) {
  launch_and_wait_online();
  auto r = run("start_imaging", R"({"exposure_ms":1000})", 5000);
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.result, R"({"status":"stacking"})");
  // 1 s exposure + 0.5 s stacking at 20x: >= 75 ms.
  CAF_CHECK_GREATER_OR_EQUAL(r.duration_ms, 70);
  auto ps = drain_progress();
  CAF_REQUIRE_EQUAL(ps.size(), 1u);
  CAF_CHECK_EQUAL(ps[0].state, "accepted");
  CAF_CHECK(rec->wait(
    [&] {
      return rec
        ->find_delta_locked(imaging_cat, 0,
                            [](const std::string& j) {
                              return has_string(j, "view_state", "stacking");
                            })
        .has_value();
    },
    2000ms));
  // A frame may be dropped at random: wait for a stacked one.
  CAF_CHECK(rec->wait(
    [&] {
      return rec
        ->find_delta_locked(imaging_cat, 0,
                            [](const std::string& j) {
                              auto n = number_of(j, "stacked_frames");
                              return n && *n >= 1;
                            })
        .has_value();
    },
    3000ms));
  CAF_CHECK(rec->wait(
    [&] {
      return rec
        ->find_delta_locked(imaging_cat, 0,
                            [](const std::string& j) {
                              return number_of(j, "exposure_ms") == 1000.0;
                            })
        .has_value();
    },
    2000ms));
  size_t mark = 0;
  {
    std::lock_guard<std::mutex> guard{rec->mx};
    mark = rec->updates.size();
  }
  r = run("stop_imaging", "{}");
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.result, R"({"status":"imaging_stopped"})");
  CAF_CHECK(rec->wait(
    [&] {
      return rec
        ->find_delta_locked(imaging_cat, mark,
                            [](const std::string& j) {
                              return has_string(j, "view_state", "star");
                            })
        .has_value();
    },
    2000ms));
}

CAF_TEST(fault latency delays replies but commands succeed) {
  launch_and_wait_online();
  // Latency is real milliseconds (not scaled by time_scale).
  set_faults("latency=300");
  auto r = run("set_gain", R"({"gain":120})");
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.result, R"({"status":"gain_set"})");
  CAF_CHECK_GREATER_OR_EQUAL(r.duration_ms, 300);
  CAF_CHECK_LESS(r.duration_ms, 2000);
  CAF_CHECK_EQUAL(rec->states_copy().size(), 1u);
}

CAF_TEST(fault dropped reply times out once as dispatched) {
  tcfg.stall_timeout = 3000ms; // polls go unanswered too meanwhile
  launch_and_wait_online();
  set_faults("drop_replies=100");
  auto r = run("set_gain", R"({"gain":50})", 800, "gain-dropped");
  set_faults("none");
  CAF_CHECK(!r.success);
  CAF_CHECK_EQUAL(r.error_code, "COMMAND_TIMEOUT");
  CAF_CHECK_EQUAL(r.result, R"({"dispatched":true})");
  CAF_CHECK(contains(r.message, "800 ms"));
  CAF_CHECK_GREATER_OR_EQUAL(r.duration_ms, 800);
  CAF_CHECK(!r.duplicate);
  // Exactly once: the same id replays the stored outcome, never runs again.
  auto again = run("set_gain", R"({"gain":50})", 800, "gain-dropped");
  CAF_CHECK(again.duplicate);
  CAF_CHECK_EQUAL(again.error_code, "COMMAND_TIMEOUT");
  CAF_CHECK_EQUAL(again.result, R"({"dispatched":true})");
  CAF_CHECK_EQUAL(again.duration_ms, r.duration_ms);
  // The link survived: a new command goes through.
  auto ok = run("set_gain", R"({"gain":60})");
  CAF_CHECK(ok.success);
  CAF_CHECK_EQUAL(rec->states_copy().size(), 1u);
}

CAF_TEST(fault disconnect mid goto then reconnect by itself) {
  launch_and_wait_online();
  // A long slew (31 deg: 0.3 s at 20x, then 0.25 s of centring).
  auto req = make_request("goto", R"({"ra":12.0,"dec":60.0})", 0);
  auto handle = self->request(tel, 15s, command_atom_v, req);
  auto accepted = next_progress(3000ms);
  CAF_REQUIRE(accepted.has_value());
  CAF_CHECK_EQUAL(accepted->state, "accepted");
  // The next message the sim sends closes the connection.
  set_faults("disconnect_after=1");
  auto r = await(handle);
  CAF_CHECK(!r.success);
  CAF_CHECK_EQUAL(r.error_code, "TELESCOPE_UNAVAILABLE");
  CAF_CHECK(contains(r.message, "device closed the connection"));
  set_faults("none");
  drain_progress();
  CAF_CHECK(
    rec->wait([&] { return rec->online_count_locked(false) >= 1; }, 3000ms));
  // Reconnects with backoff, announces online, publishes fresh snapshots.
  CAF_CHECK(wait_online(2));
  CAF_CHECK(rec->wait(
    [&] {
      for (size_t c = 0; c < 4; ++c)
        if (rec->full_count_locked(c) < 2) return false;
      return true;
    },
    3000ms));
  auto states = rec->states_copy();
  CAF_REQUIRE_EQUAL(states.size(), 3u);
  CAF_CHECK(states[0].online);
  CAF_CHECK(!states[1].online);
  CAF_CHECK(contains(states[1].reason, "device closed the connection"));
  CAF_CHECK(states[2].online);
  // Offline was published as connected=false before the new snapshot.
  CAF_CHECK(rec->wait(
    [&] {
      return rec
        ->find_delta_locked(
          system_cat, 0,
          [](const std::string& j) { return has_bool(j, "connected", false); })
        .has_value();
    },
    1000ms));
  auto after = run("set_gain", R"({"gain":70})");
  CAF_CHECK(after.success);
}

CAF_TEST(fault garbage lines are skipped and the link stays up) {
  launch_and_wait_online();
  auto skipped_before = logs->count("skipped a bad line");
  set_faults("garbage_every=1");
  auto r = run("set_gain", R"({"gain":90})");
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.result, R"({"status":"gain_set"})");
  r = run("focus", R"({"position":1700})");
  CAF_CHECK(r.success);
  CAF_CHECK_EQUAL(r.result, R"({"status":"focus_complete"})");
  // Let several polls pass under the fault.
  std::this_thread::sleep_for(600ms);
  CAF_CHECK_GREATER_OR_EQUAL(logs->count("skipped a bad line"),
                             skipped_before + 3);
  auto states = rec->states_copy();
  CAF_CHECK_EQUAL(states.size(), 1u);
  size_t fulls = 0;
  for (auto& u : rec->updates_of(system_cat))
    fulls += u.full ? 1 : 0;
  CAF_CHECK_EQUAL(fulls, 1u);
}

CAF_TEST(fault stall declares the device stalled then reconnects) {
  launch_and_wait_online();
  set_faults("stall=1");
  // Dispatched, never answered: the stall answers it.
  auto r = run("set_gain", R"({"gain":30})", 6000);
  CAF_CHECK(!r.success);
  CAF_CHECK_EQUAL(r.error_code, "TELESCOPE_UNAVAILABLE");
  CAF_CHECK(contains(r.message, "stalled"));
  // Declared after stall_timeout (1500 ms) at a poll tick.
  CAF_CHECK_GREATER_OR_EQUAL(r.duration_ms, 1000);
  CAF_CHECK_LESS(r.duration_ms, 4000);
  CAF_CHECK(
    rec->wait([&] { return rec->online_count_locked(false) >= 1; }, 1000ms));
  {
    auto states = rec->states_copy();
    CAF_REQUIRE_EQUAL(states.size(), 2u);
    CAF_CHECK(!states[1].online);
    CAF_CHECK(contains(states[1].reason, "stalled"));
  }
  // While stalled, reconnects get no answers; none goes online.
  std::this_thread::sleep_for(500ms);
  CAF_CHECK_EQUAL(rec->states_copy().size(), 2u);
  set_faults("none");
  CAF_CHECK(wait_online(2, 6000ms));
  CAF_CHECK(rec->wait(
    [&] {
      for (size_t c = 0; c < 4; ++c)
        if (rec->full_count_locked(c) < 2) return false;
      return true;
    },
    3000ms));
  auto after = run("set_gain", R"({"gain":40})");
  CAF_CHECK(after.success);
}

CAF_TEST_FIXTURE_SCOPE_END()

// Fuzz target `session`: a sequence of client frames fed to one session
// actor (actors/session.hpp) over a fake WebSocket pipe, with the real
// directory and topics and two stand-in telescopes, all on CAF's
// deterministic test scheduler (no threads, no sockets).
//
// Input: byte 0 picks the session's settings (role, bound telescope,
// token scope, tight limits); the rest is split on '\n' into frames. A
// frame of one byte 0x01..0x07 is an event instead of text: a binary
// frame, a pong, a heartbeat tick, 1 s or 30 s passing, a drained
// notice, a close asked by the server.
//
// Properties: nothing crashes; every frame the session writes is a valid
// server frame (protocol/codec.hpp); every client frame that asks for an
// answer gets one (an `error` naming it in ref_id, or a command_response
// naming it in command_id), unless the session closed; no command id is
// answered more often than frames carried it; every client message is
// marked consumed exactly once (flow control, net/ws_pipe.hpp).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/directory.hpp"
#include "actors/messages.hpp"
#include "actors/session.hpp"
#include "actors/topic.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/scheduler/test_coordinator.hpp"
#include "caf/send.hpp"
#include "net/ws_pipe.hpp"
#include "protocol/codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

using namespace scopehub;
using namespace std::chrono_literals;

/// Most frames taken from one input (keeps every run short).
constexpr size_t max_frames = 64;

/// Key of answers that cannot name their frame (no readable id).
const std::string no_id = "<no id>";

/// A WebSocket that records what the session writes.
struct fake_pipe : net::ws_pipe {
  std::vector<std::string> frames;
  uint16_t close_code = 0;
  std::string close_reason;
  std::string peer_ = "127.0.0.1:5555";

  void send(std::shared_ptr<const std::string> frame) override {
    FUZZ_CHECK(frame != nullptr, "null frame sent");
    frames.push_back(*frame);
  }
  void close(uint16_t code, std::string reason) override {
    if (close_code != 0) return;
    FUZZ_CHECK(code != 0, "close without a code");
    FUZZ_CHECK(reason.size() <= 123, "close reason over 123 bytes");
    close_code = code;
    close_reason = std::move(reason);
  }
  void consumed(size_t n) override { consumed_total += n; }
  size_t consumed_total = 0;
  size_t queued_bytes() const override { return 0; }
  const std::string& peer() const override { return peer_; }
  uint64_t id() const override { return 1; }
};

/// A telescope that reports progress, then answers every command.
caf::behavior answering_scope(caf::event_based_actor* self, int) {
  return {
    [self](command_atom, const command_request& req) {
      auto to = caf::actor_cast<caf::actor>(self->current_sender());
      if (to)
        self->send(to, progress_atom_v, req.id, std::string{"working"},
                   std::string{R"({"step":1})"});
      command_result r;
      r.success = true;
      r.result = R"({"status":"ok"})";
      r.duration_ms = 3;
      return r;
    },
  };
}

/// A telescope that never answers: its commands wait for the timeout.
caf::behavior mute_scope(caf::event_based_actor*, int) {
  return {
    [](command_atom, const command_request&) {
      return caf::delegated<command_result>{};
    },
  };
}

struct config : caf::actor_system_config {
  config() {
    set("scheduler.policy", caf::atom("testing"));
    set("logger.file-verbosity", caf::atom("quiet"));
  }
};

/// One actor system for the whole run: the directory, two telescopes
/// ("scope-1" answers, "mute-1" never does) and their topics. Sessions
/// come and go per input; nothing else changes between inputs.
struct world {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  caf::actor dir;
  std::vector<caf::actor> keep; // telescopes and topics

  world() {
    sched.clock().current_time += std::chrono::hours(1);
    dir = sys.spawn(directory_actor, directory_config{});
    add("scope-1", sys.spawn(answering_scope, 0));
    add("mute-1", sys.spawn(mute_scope, 0));
    settle();
  }

  void add(const std::string& id, caf::actor scope) {
    std::vector<caf::actor> topics;
    for (auto cat : protocol::all_categories) {
      topic_config tc;
      tc.telescope_id = id;
      tc.category = cat;
      tc.epoch = "e1";
      tc.history_size = 4;
      topics.push_back(sys.spawn(topic_actor, tc));
    }
    caf::anon_send(topics[0], update_atom_v,
                   std::string{R"({"ra":1.0,"dec":2.0})"}, true);
    caf::anon_send(topics[0], update_atom_v, std::string{R"({"ra":1.5})"},
                   false);
    caf::anon_send(topics[1], update_atom_v,
                   std::string{R"({"focus_position":7})"}, true);
    telescope_info info;
    info.id = id;
    info.name = "Stand-in " + id;
    info.online = true;
    caf::anon_send(dir, register_atom_v, info, scope, topics);
    keep.push_back(scope);
    keep.insert(keep.end(), topics.begin(), topics.end());
  }

  void settle() {
    while (sched.try_run_once()) {
      // run every actor until all mailboxes are empty
    }
  }

  /// Lets `t` pass, firing every timeout due, then settles.
  void advance(caf::timespan t) {
    sched.clock().advance_time(t);
    settle();
  }
};

world& the_world() {
  // Never destroyed: an actor_system waits for its actors at exit.
  static world* w = new world;
  return *w;
}

session_config config_of(uint8_t b) {
  static const char* roles[] = {"operator", "observer", "admin", "operator"};
  session_config sc;
  sc.id = "s1";
  sc.peer = "127.0.0.1:5555";
  sc.role = roles[b & 3];
  if (b & 4) sc.bound_telescope = "scope-1";
  if (b & 8) sc.telescopes = {"scope-*"};
  if (b & 16) {
    sc.message_rate = 1;
    sc.message_burst = 4;
    sc.rate_abuse_limit = 3;
    sc.max_subscriptions = 2;
    sc.max_pending_commands = 1;
  } else {
    sc.message_burst = 1000; // long inputs are not all rate-limited
  }
  return sc;
}

/// What the harness expects of the answers, by message id.
struct ledger {
  std::map<std::string, size_t> wanted;    ///< frames needing an answer
  std::map<std::string, size_t> carried;   ///< frames naming the id at all
  std::map<std::string, size_t> answers;   ///< error ref_id / command_id
  std::map<std::string, size_t> responses; ///< command_response only

  void client_frame(const std::string& text) {
    auto msg = protocol::parse_client_message(text);
    if (!msg) {
      const auto& ref = msg.error().ref_id;
      ++wanted[ref ? *ref : no_id];
      ++carried[ref ? *ref : no_id];
      return;
    }
    ++carried[msg->env.id];
    if (std::holds_alternative<protocol::client_heartbeat>(msg->payload))
      return; // liveness only
    if (auto cmd = std::get_if<protocol::control_command>(&msg->payload);
        cmd && !cmd->response_expected)
      return;
    ++wanted[msg->env.id];
  }

  void server_frame(const std::string& text) {
    auto msg = protocol::parse_server_message(text);
    FUZZ_CHECK(msg.ok(), text.c_str());
    if (auto e = std::get_if<protocol::error_message>(&msg->payload)) {
      ++answers[e->ref_id ? *e->ref_id : no_id];
    } else if (auto r
               = std::get_if<protocol::command_response>(&msg->payload)) {
      ++answers[r->command_id];
      ++responses[r->command_id];
    }
  }
};

void report(const std::string& id, size_t wanted, size_t got,
            const fake_pipe& pipe) {
  std::fprintf(stderr, "id '%s': %zu frame(s) wanted an answer, got %zu\n",
               id.c_str(), wanted, got);
  for (auto& f : pipe.frames)
    std::fprintf(stderr, "  <- %s\n", f.c_str());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  the_world();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto& w = the_world();
  auto pipe = std::make_shared<fake_pipe>();
  auto session
    = w.sys.spawn(session_actor, config_of(data[0]),
                  std::weak_ptr<net::ws_pipe>{pipe}, w.dir, caf::actor{});
  w.settle();
  ledger book;
  const char* p = reinterpret_cast<const char*>(data) + 1;
  const char* end = reinterpret_cast<const char*>(data) + size;
  if (p < end && *p == '\n') ++p; // "<settings byte>\n<frame>\n<frame>..."
  bool closed_told = false;
  size_t delivered = 0; // client messages (text or binary) sent
  for (size_t n = 0; p < end && n < max_frames; ++n) {
    const char* nl = p;
    while (nl < end && *nl != '\n')
      ++nl;
    std::string frame{p, nl};
    p = nl < end ? nl + 1 : end;
    if (pipe->close_code != 0) {
      // The pipe tells the session once, as the real one does, and
      // reads nothing more.
      if (!closed_told)
        caf::anon_send(session, closed_atom_v, pipe->close_code,
                       pipe->close_reason);
      closed_told = true;
      w.settle();
      break;
    }
    if (frame.size() == 1 && frame[0] >= 1 && frame[0] <= 7) {
      switch (frame[0]) {
        case 1:
          caf::anon_send(session, ws_binary_atom_v, uint64_t{4});
          ++book.wanted[no_id];
          ++delivered;
          break;
        case 2: caf::anon_send(session, alive_atom_v); break;
        case 3: caf::anon_send(session, heartbeat_atom_v); break;
        case 4: w.advance(1s); break;
        case 5: w.advance(30s); break;
        case 6: caf::anon_send(session, drained_atom_v, uint64_t{100}); break;
        default:
          caf::anon_send(session, caf::close_atom_v, uint16_t{1001},
                         std::string{"going away"});
      }
    } else {
      book.client_frame(frame);
      caf::anon_send(session, ws_frame_atom_v, frame);
      ++delivered;
    }
    w.settle();
  }
  // Commands to the mute telescope end by their timeout.
  w.advance(std::chrono::milliseconds{2 * protocol::max_timeout_ms + 60000});
  for (auto& f : pipe->frames)
    book.server_frame(f);
  FUZZ_CHECK(pipe->consumed_total <= delivered,
             "more client messages consumed than delivered");
  if (pipe->close_code == 0) {
    // Flow control: a message never marked consumed stalls the reader.
    FUZZ_CHECK(pipe->consumed_total == delivered,
               "a client message was never marked consumed");
    for (auto& [id, n] : book.wanted) {
      auto got = book.answers.count(id) ? book.answers[id] : 0;
      if (got < n) {
        report(id, n, got, *pipe);
        FUZZ_CHECK(got >= n, "a client frame got no answer and no close");
      }
    }
  }
  for (auto& [id, n] : book.responses) {
    auto carried = book.carried.count(id) ? book.carried[id] : 0;
    if (n > carried) {
      report(id, carried, n, *pipe);
      FUZZ_CHECK(n <= carried, "a command was answered twice");
    }
  }
  caf::anon_send_exit(session, caf::exit_reason::user_shutdown);
  w.advance(1s);
  return 0;
}

#include "actors/topic.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <utility>

#include <spdlog/spdlog.h>

#include "protocol/builders.hpp"
#include "protocol/json_scratch.hpp"

namespace scopehub {

namespace {

using topic_self = caf::stateful_actor<topic_state>*;

int64_t now_ms() {
  using namespace std::chrono;
  auto t = system_clock::now().time_since_epoch();
  return duration_cast<milliseconds>(t).count();
}

// -- frames -------------------------------------------------------------------

/// Builds the next status_update frame of the topic (one server message id
/// per frame). `changes` names the fields it carries; a delta copies only
/// those out of the state, a full update carries the whole state.
std::string status_frame(topic_state& st,
                         const std::vector<std::string>& changes, bool full) {
  auto id = st.cfg.id_prefix + std::to_string(++st.frames_built);
  protocol::stamp stamp{id, now_ms(), st.cfg.telescope_id};
  if (full)
    return protocol::make_status_update(stamp, st.cfg.category, st.seq,
                                        st.cfg.epoch, st.status, changes, true);
  protocol::scratch_document<> delta{rapidjson::kObjectType};
  auto& alloc = delta.GetAllocator();
  for (const auto& field : changes) {
    auto i = st.status.FindMember(field);
    if (i != st.status.MemberEnd())
      delta.AddMember(rapidjson::Value{i->name, alloc},
                      rapidjson::Value{i->value, alloc}, alloc);
  }
  return protocol::make_status_update(stamp, st.cfg.category, st.seq,
                                      st.cfg.epoch, delta, changes, false);
}

/// Names of every field of the state, in state order.
std::vector<std::string> all_fields(const rapidjson::Value& status) {
  std::vector<std::string> result;
  result.reserve(status.MemberCount());
  for (const auto& m : status.GetObject())
    result.emplace_back(m.name.GetString(), m.name.GetStringLength());
  return result;
}

// -- subscriber bookkeeping ---------------------------------------------------

auto find_subscriber(topic_state& st, const caf::actor_addr& who) {
  return std::find_if(st.subscribers.begin(), st.subscribers.end(),
                      [&](const caf::actor& x) { return x.address() == who; });
}

/// True when every update after `from` is still in the history (including
/// the case that there is none).
bool can_replay(const topic_state& st, int64_t from) {
  if (from < 0 || static_cast<uint64_t>(from) > st.seq) return false;
  auto r = static_cast<uint64_t>(from);
  if (r == st.seq) return true;
  return !st.history.empty() && r + 1 >= st.history.front().seq;
}

/// Brings a new subscriber up to date: the missed frames from history or
/// one full snapshot; nothing while the topic has no state yet.
void catch_up(topic_self self, const caf::actor& who, int64_t from) {
  auto& st = self->state;
  if (st.seq == 0) return;
  // Catch-up frames carry no publish time: they are not fan-out latency.
  if (can_replay(st, from)) {
    for (const auto& e : st.history)
      if (e.seq > static_cast<uint64_t>(from))
        self->send(who, deliver_atom_v, e.msg.get_as<std::string>(1),
                   int64_t{0});
    return;
  }
  self->send(who, deliver_atom_v, status_frame(st, all_fields(st.status), true),
             int64_t{0});
}

// -- handlers -----------------------------------------------------------------

void on_update(topic_self self, const std::string& fields_json, bool full) {
  auto& st = self->state;
  protocol::scratch_document<> delta;
  delta.Parse(fields_json.data(), fields_json.size());
  if (delta.HasParseError() || !delta.IsObject()) {
    spdlog::warn("topic {}/{}: dropped an update that is not a JSON object",
                 st.cfg.telescope_id, protocol::to_string(st.cfg.category));
    return;
  }
  auto changed = protocol::merge(st.status, delta);
  if (changed.empty() && !full) return;
  ++st.seq;
  auto frame = status_frame(st, full ? all_fields(st.status) : changed, full);
  // One message for everyone: each mailbox element shares its content.
  auto published = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::steady_clock::now().time_since_epoch())
                     .count();
  auto msg = caf::make_message(deliver_atom_v, std::move(frame),
                               static_cast<int64_t>(published));
  for (const auto& s : st.subscribers)
    self->send(s, msg);
  st.history.push_back({st.seq, std::move(msg)});
  while (st.history.size() > st.cfg.history_size)
    st.history.pop_front();
}

uint64_t on_subscribe(topic_self self, const caf::actor& who,
                      int64_t resume_from, const std::string& epoch = {}) {
  auto& st = self->state;
  if (!who) return st.seq;
  // A resume point of another incarnation says nothing about this one.
  if (!epoch.empty() && epoch != st.cfg.epoch) resume_from = -1;
  if (find_subscriber(st, who.address()) == st.subscribers.end()) {
    self->monitor(who);
    st.subscribers.push_back(who);
  }
  catch_up(self, who, resume_from);
  return st.seq;
}

void on_unsubscribe(topic_self self, const caf::actor& who) {
  auto& st = self->state;
  auto i = find_subscriber(st, who.address());
  if (i == st.subscribers.end()) return;
  self->demonitor(who);
  st.subscribers.erase(i);
}

// -- mirror (farm mode) -------------------------------------------------------

int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// Subscribes to the upstream with the newest seq and epoch held, so it
/// replays what this mirror missed or sends one snapshot.
void follow(topic_self self, caf::actor upstream) {
  auto& st = self->state;
  st.upstream = std::move(upstream);
  if (!st.upstream) return;
  int64_t from = st.seq == 0 ? -1 : static_cast<int64_t>(st.seq);
  auto me = caf::actor_cast<caf::actor>(self);
  self
    ->request(st.upstream, std::chrono::seconds{30}, caf::subscribe_atom_v, me,
              from, st.cfg.epoch)
    .then([](uint64_t) {},
          [self](caf::error& err) {
            spdlog::debug("mirror {}/{}: subscribe failed: {}",
                          self->state.cfg.telescope_id,
                          protocol::to_string(self->state.cfg.category),
                          self->system().render(err));
          });
}

/// One frame of the upstream topic: applied to the state and history the
/// same way the upstream did, then passed on unchanged.
void on_mirrored(topic_self self, const std::string& frame) {
  auto& st = self->state;
  auto sender = caf::actor_cast<caf::actor_addr>(self->current_sender());
  if (!st.upstream || sender != st.upstream.address())
    return; // a late frame of an upstream no longer followed
  protocol::scratch_document<> doc;
  doc.Parse(frame.data(), frame.size());
  const rapidjson::Value* payload = nullptr;
  if (!doc.HasParseError() && doc.IsObject()) {
    auto p = doc.FindMember("payload");
    if (p != doc.MemberEnd() && p->value.IsObject()) payload = &p->value;
  }
  auto member = [&](const char* key) -> const rapidjson::Value* {
    auto m = payload->FindMember(key);
    return m == payload->MemberEnd() ? nullptr : &m->value;
  };
  const rapidjson::Value* seq_v = payload ? member("seq") : nullptr;
  const rapidjson::Value* epoch_v = payload ? member("epoch") : nullptr;
  const rapidjson::Value* status = payload ? member("status") : nullptr;
  if (!seq_v || !seq_v->IsUint64() || !epoch_v || !epoch_v->IsString()
      || !status || !status->IsObject()) {
    spdlog::warn("mirror {}/{}: dropped an upstream frame without seq, epoch "
                 "or status",
                 st.cfg.telescope_id, protocol::to_string(st.cfg.category));
    return;
  }
  auto full_v = member("full_update");
  bool full = full_v && full_v->IsTrue();
  auto seq = seq_v->GetUint64();
  std::string epoch{epoch_v->GetString(), epoch_v->GetStringLength()};
  bool new_epoch = epoch != st.cfg.epoch;
  if (!new_epoch && seq <= st.seq) return; // replayed: already have it
  // Seq 1 is the first update of an epoch: its whole history so far.
  bool epoch_start = new_epoch && seq == 1;
  bool contiguous = epoch_start || (!new_epoch && seq == st.seq + 1);
  if (full || epoch_start) {
    st.status.SetObject();
    protocol::merge(st.status, *status);
  } else if (contiguous) {
    protocol::merge(st.status, *status);
  } else {
    // The upstream never leaves a gap; if one shows, ask again.
    spdlog::warn("mirror {}/{}: gap from seq {} to {}: resubscribing",
                 st.cfg.telescope_id, protocol::to_string(st.cfg.category),
                 st.seq, seq);
    follow(self, st.upstream);
    return;
  }
  st.cfg.epoch = std::move(epoch);
  st.seq = seq;
  // A snapshot that closes a gap or starts an epoch is no delta: history
  // restarts after it (older resume points get a snapshot).
  if (!contiguous || new_epoch) st.history.clear();
  auto now = steady_ns();
  auto msg = caf::make_message(deliver_atom_v, frame, now);
  if (new_epoch && !full) {
    // Subscribers hold the old epoch's state: an epoch opens with a full
    // snapshot for them (the delta goes to history for resumes within it).
    auto snap = caf::make_message(
      deliver_atom_v, status_frame(st, all_fields(st.status), true), now);
    for (const auto& s : st.subscribers)
      self->send(s, snap);
  } else {
    for (const auto& s : st.subscribers)
      self->send(s, msg);
  }
  if (contiguous) {
    st.history.push_back({st.seq, std::move(msg)});
    while (st.history.size() > st.cfg.history_size)
      st.history.pop_front();
  }
}

} // namespace

std::string make_epoch() {
  static const uint32_t run_id = [] {
    std::random_device rd;
    return static_cast<uint32_t>(rd());
  }();
  static std::atomic<uint64_t> created{0};
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x.%llu", run_id,
                static_cast<unsigned long long>(++created));
  return buf;
}

caf::behavior topic_actor(caf::stateful_actor<topic_state>* self,
                          topic_config cfg) {
  if (cfg.mirror) {
    // A mirror takes its epoch from the upstream; its own frames (local
    // snapshots) still need ids no other topic uses.
    if (cfg.id_prefix.empty()) cfg.id_prefix = "m-" + make_epoch() + "-";
    cfg.epoch.clear();
  }
  if (cfg.epoch.empty() && !cfg.mirror) cfg.epoch = make_epoch();
  if (cfg.id_prefix.empty()) cfg.id_prefix = "s-" + cfg.epoch + "-";
  self->state.cfg = std::move(cfg);
  self->state.status.SetObject();
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& subs = self->state.subscribers;
    auto i = find_subscriber(self->state, dm.source);
    if (i != subs.end()) subs.erase(i);
  });
  return {
    [self](update_atom, const std::string& fields_json, bool full) {
      if (!self->state.cfg.mirror) on_update(self, fields_json, full);
    },
    [self](follow_atom, caf::actor& upstream) {
      if (self->state.cfg.mirror) follow(self, std::move(upstream));
    },
    [self](deliver_atom, const std::string& frame, int64_t) {
      if (self->state.cfg.mirror) on_mirrored(self, frame);
    },
    [self](caf::subscribe_atom, const caf::actor& who, int64_t resume_from,
           const std::string& epoch) {
      return on_subscribe(self, who, resume_from, epoch);
    },
    [self](caf::subscribe_atom, const caf::actor& who, int64_t resume_from) {
      return on_subscribe(self, who, resume_from);
    },
    [self](caf::unsubscribe_atom, const caf::actor& who) {
      on_unsubscribe(self, who);
    },
    [self](caf::get_atom) -> caf::result<uint64_t, std::string, uint64_t> {
      auto& st = self->state;
      return {st.seq, st.cfg.epoch,
              static_cast<uint64_t>(st.subscribers.size())};
    },
  };
}

} // namespace scopehub

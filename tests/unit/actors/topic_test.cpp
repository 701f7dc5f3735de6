#define CAF_SUITE topic
// The topic actor: seq numbering, deltas, one shared frame per update,
// replay from history or a snapshot on subscribe, subscriber cleanup.

#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "actors/topic.hpp"

using namespace scopehub;

namespace {

// -- a subscriber that records every frame it gets ----------------------------

struct recorder_state {
  std::string label;
  std::vector<std::string> frames;
  static inline const char* name = "recorder";
};

// Takes a label because CAF 0.17.6 dereferences a null argument tuple when
// spawning a function without arguments (UBSan stops the test there).
caf::behavior recorder(caf::stateful_actor<recorder_state>* self,
                       std::string label) {
  self->state.label = std::move(label);
  return {
    [self](deliver_atom, const std::string& frame, int64_t) {
      self->state.frames.push_back(frame);
    },
  };
}

rapidjson::Document parse(const std::string& frame) {
  rapidjson::Document d;
  d.Parse(frame.data(), frame.size());
  CAF_CHECK(!d.HasParseError());
  CAF_CHECK(d.IsObject());
  return d;
}

/// A string member as std::string (copied: the document may be a temporary).
std::string str(const rapidjson::Value& x) {
  return x.IsString() ? std::string{x.GetString()} : std::string{"<none>"};
}

/// Member names of the object `x`, in order.
std::vector<std::string> names(const rapidjson::Value& x) {
  std::vector<std::string> result;
  for (const auto& m : x.GetObject())
    result.emplace_back(m.name.GetString());
  return result;
}

std::vector<std::string> strings(const rapidjson::Value& x) {
  std::vector<std::string> result;
  for (const auto& v : x.GetArray())
    result.emplace_back(v.GetString());
  return result;
}

using strs = std::vector<std::string>;

struct fixture : test_coordinator_fixture<> {
  caf::actor topic;
  caf::actor s1;
  caf::actor s2;

  fixture() {
    topic_config cfg;
    cfg.telescope_id = "seestar-001";
    cfg.category = protocol::category::system;
    cfg.epoch = "ep1";
    cfg.history_size = 4;
    cfg.id_prefix = "t-";
    topic = sys.spawn(topic_actor, cfg);
    s1 = sys.spawn(recorder, "s1");
    s2 = sys.spawn(recorder, "s2");
    consume_messages();
  }

  strs& frames(const caf::actor& x) {
    return deref<caf::stateful_actor<recorder_state>>(x).state.frames;
  }

  /// Sends an update and lets the topic handle it (not the subscribers).
  void update(const std::string& fields, bool full = false) {
    self->send(topic, update_atom_v, fields, full);
    expect((update_atom, std::string, bool),
           from(self).to(topic).with(_, fields, full));
  }

  /// Subscribes `who` and lets the topic handle it; returns its reply.
  uint64_t subscribe(const caf::actor& who, int64_t resume_from) {
    return request<uint64_t>(topic, caf::subscribe_atom_v, who, resume_from);
  }

  uint64_t seq_of(const std::string& frame) {
    return parse(frame)["payload"]["seq"].GetUint64();
  }

  std::vector<uint64_t> seqs(const caf::actor& x) {
    std::vector<uint64_t> result;
    for (const auto& f : frames(x))
      result.push_back(seq_of(f));
    return result;
  }

  std::tuple<uint64_t, std::string, uint64_t> info() {
    return request<uint64_t, std::string, uint64_t>(topic, caf::get_atom_v);
  }

  // Note: CAF_CHECK_EQUAL binds `auto&&` to its arguments, so std::get on a
  // temporary tuple would dangle; these return values.
  uint64_t current_seq() { return std::get<0>(info()); }

  /// Actors ended with the fixture: a mirror and its upstream hold each
  /// other (subscriber and followed topic), which would keep both alive.
  std::vector<caf::actor> owned;

  ~fixture() {
    for (auto& x : owned)
      caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(topic, caf::exit_reason::user_shutdown);
    run();
  }

  caf::actor spawn_mirror(size_t history = 4) {
    topic_config cfg;
    cfg.telescope_id = "seestar-001";
    cfg.category = protocol::category::system;
    cfg.history_size = history;
    cfg.id_prefix = "m-";
    cfg.mirror = true;
    owned.push_back(sys.spawn(topic_actor, cfg));
    return owned.back();
  }

  /// The seq of any topic actor `t` (a value: see the note above).
  uint64_t seq_at(const caf::actor& t) {
    return std::get<0>(
      request<uint64_t, std::string, uint64_t>(t, caf::get_atom_v));
  }

  uint64_t subscriber_count() { return std::get<2>(info()); }

  /// Publishes n deltas that each change `temp`, starting at value `first`.
  void publish_temps(int first, int n) {
    for (int i = first; i < first + n; ++i)
      update(R"({"temp":)" + std::to_string(i) + "}");
    consume_messages();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(topic_tests, fixture)

CAF_TEST(the first update has seq 1 and each update increments it) {
  CAF_CHECK_EQUAL(subscribe(s1, -1), 0u);
  CAF_CHECK(frames(s1).empty());
  update(R"({"battery_capacity":85,"temp":23.5})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  update(R"({"temp":24})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  CAF_CHECK_EQUAL(seqs(s1), (std::vector<uint64_t>{1, 2}));
  auto d = parse(frames(s1)[0]);
  CAF_CHECK_EQUAL(str(d["id"]), "t-1");
  CAF_CHECK_EQUAL(str(d["type"]), "status_update");
  CAF_CHECK_EQUAL(str(d["telescope_id"]), "seestar-001");
  CAF_CHECK(d["timestamp"].IsInt64() && d["timestamp"].GetInt64() > 0);
  auto& p = d["payload"];
  CAF_CHECK_EQUAL(str(p["category"]), "system");
  CAF_CHECK_EQUAL(str(p["epoch"]), "ep1");
  CAF_CHECK_EQUAL(p["status"]["battery_capacity"].GetInt(), 85);
  CAF_CHECK_EQUAL(p["status"]["temp"].GetDouble(), 23.5);
  CAF_CHECK_EQUAL(strings(p["changes"]), (strs{"battery_capacity", "temp"}));
  CAF_CHECK_EQUAL(p["full_update"].GetBool(), false);
  CAF_CHECK_EQUAL(str(parse(frames(s1)[1])["id"]), "t-2");
  CAF_CHECK_EQUAL(current_seq(), 2u);
}

CAF_TEST(a delta carries only the fields that changed) {
  subscribe(s1, -1);
  update(R"({"battery_capacity":85,"temp":23.5,"charger_status":"full"})");
  update(R"({"battery_capacity":85,"temp":22,"charger_status":"full"})");
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s1).size(), 2u);
  auto d = parse(frames(s1)[1]);
  auto& p = d["payload"];
  CAF_CHECK_EQUAL(p["seq"].GetUint64(), 2u);
  CAF_CHECK_EQUAL(names(p["status"]), strs{"temp"});
  CAF_CHECK_EQUAL(p["status"]["temp"].GetInt(), 22);
  CAF_CHECK_EQUAL(strings(p["changes"]), strs{"temp"});
  CAF_CHECK_EQUAL(p["full_update"].GetBool(), false);
}

CAF_TEST(an update that changes nothing produces no frame and no seq) {
  subscribe(s1, -1);
  update(R"({"temp":20})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  update(R"({"temp":20.0})");
  disallow((deliver_atom, std::string, int64_t), from(topic).to(s1));
  update(R"({})");
  disallow((deliver_atom, std::string, int64_t), from(topic).to(s1));
  CAF_CHECK_EQUAL(current_seq(), 1u);
}

CAF_TEST(an update that is not a JSON object is dropped) {
  subscribe(s1, -1);
  update("[1,2]");
  disallow((deliver_atom, std::string, int64_t), from(topic).to(s1));
  update("{not json");
  disallow((deliver_atom, std::string, int64_t), from(topic).to(s1));
  CAF_CHECK_EQUAL(current_seq(), 0u);
}

CAF_TEST(a full update carries every field even when nothing changed) {
  subscribe(s1, -1);
  update(R"({"temp":20,"connected":true})");
  update(R"({"temp":20})", true);
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  auto d = parse(frames(s1)[1]);
  auto& p = d["payload"];
  CAF_CHECK_EQUAL(p["seq"].GetUint64(), 2u);
  CAF_CHECK_EQUAL(p["full_update"].GetBool(), true);
  CAF_CHECK_EQUAL(names(p["status"]), (strs{"temp", "connected"}));
  CAF_CHECK_EQUAL(strings(p["changes"]), (strs{"temp", "connected"}));
  CAF_CHECK_EQUAL(p["status"]["connected"].GetBool(), true);
}

CAF_TEST(two subscribers get the identical frame) {
  subscribe(s1, -1);
  subscribe(s2, -1);
  update(R"({"temp":20})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  expect((deliver_atom, std::string, int64_t), from(topic).to(s2));
  CAF_REQUIRE_EQUAL(frames(s1).size(), 1u);
  CAF_REQUIRE_EQUAL(frames(s2).size(), 1u);
  CAF_CHECK_EQUAL(frames(s1)[0], frames(s2)[0]);
  CAF_CHECK_EQUAL(subscriber_count(), 2u);
}

CAF_TEST(subscribing to a topic without state sends nothing) {
  CAF_CHECK_EQUAL(subscribe(s1, -1), 0u);
  CAF_CHECK_EQUAL(subscribe(s2, 5), 0u);
  CAF_CHECK(frames(s1).empty());
  CAF_CHECK(frames(s2).empty());
}

CAF_TEST(a late subscriber gets one full snapshot then live deltas) {
  publish_temps(1, 3);
  update(R"({"connected":true})");
  consume_messages();
  CAF_CHECK_EQUAL(subscribe(s1, -1), 4u);
  CAF_REQUIRE_EQUAL(frames(s1).size(), 1u);
  auto d = parse(frames(s1)[0]);
  auto& p = d["payload"];
  CAF_CHECK_EQUAL(p["seq"].GetUint64(), 4u);
  CAF_CHECK_EQUAL(p["full_update"].GetBool(), true);
  CAF_CHECK_EQUAL(p["status"]["temp"].GetInt(), 3);
  CAF_CHECK_EQUAL(p["status"]["connected"].GetBool(), true);
  CAF_CHECK_EQUAL(strings(p["changes"]), (strs{"temp", "connected"}));
  update(R"({"temp":9})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  CAF_CHECK_EQUAL(seqs(s1), (std::vector<uint64_t>{4, 5}));
}

CAF_TEST(resume from a seq in history replays exactly the missed frames) {
  subscribe(s2, -1);
  publish_temps(1, 6); // history 4: keeps seq 3..6
  CAF_CHECK_EQUAL(subscribe(s1, 4), 6u);
  CAF_CHECK_EQUAL(seqs(s1), (std::vector<uint64_t>{5, 6}));
  // Replayed frames are the very frames live subscribers got.
  CAF_CHECK_EQUAL(frames(s1)[0], frames(s2)[4]);
  CAF_CHECK_EQUAL(frames(s1)[1], frames(s2)[5]);
  update(R"({"temp":100})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s2));
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  CAF_CHECK_EQUAL(seqs(s1), (std::vector<uint64_t>{5, 6, 7}));
}

CAF_TEST(resume from just before the oldest kept frame replays all of them) {
  publish_temps(1, 6); // keeps 3..6
  subscribe(s1, 2);
  CAF_CHECK_EQUAL(seqs(s1), (std::vector<uint64_t>{3, 4, 5, 6}));
  for (const auto& f : frames(s1))
    CAF_CHECK_EQUAL(parse(f)["payload"]["full_update"].GetBool(), false);
}

CAF_TEST(resume from an evicted seq gets one full snapshot) {
  publish_temps(1, 6); // keeps 3..6; 1 is evicted
  subscribe(s1, 1);
  CAF_REQUIRE_EQUAL(frames(s1).size(), 1u);
  auto d = parse(frames(s1)[0]);
  CAF_CHECK_EQUAL(d["payload"]["full_update"].GetBool(), true);
  CAF_CHECK_EQUAL(d["payload"]["seq"].GetUint64(), 6u);
  CAF_CHECK_EQUAL(d["payload"]["status"]["temp"].GetInt(), 6);
}

CAF_TEST(resume from a seq beyond the current one gets a full snapshot) {
  publish_temps(1, 2);
  subscribe(s1, 40);
  CAF_REQUIRE_EQUAL(frames(s1).size(), 1u);
  CAF_CHECK_EQUAL(parse(frames(s1)[0])["payload"]["full_update"].GetBool(),
                  true);
}

CAF_TEST(resume from the current seq sends nothing until the next update) {
  publish_temps(1, 6);
  self->send(topic, caf::subscribe_atom_v, s1, int64_t{6});
  expect((caf::subscribe_atom, caf::actor, int64_t),
         from(self).to(topic).with(_, s1, int64_t{6}));
  disallow((deliver_atom, std::string, int64_t), from(topic).to(s1));
  expect((uint64_t), from(topic).to(self).with(uint64_t{6}));
  update(R"({"temp":7})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  CAF_CHECK_EQUAL(seqs(s1), std::vector<uint64_t>{7});
}

CAF_TEST(subscribing twice is one subscription but replays again) {
  publish_temps(1, 2);
  subscribe(s1, -1);
  subscribe(s1, -1);
  CAF_CHECK_EQUAL(frames(s1).size(), 2u); // two snapshots, one per request
  CAF_CHECK_EQUAL(subscriber_count(), 1u);
  update(R"({"temp":50})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s1));
  disallow((deliver_atom, std::string, int64_t), from(topic).to(s1));
}

CAF_TEST(a subscriber that terminates is removed and gets nothing) {
  subscribe(s1, -1);
  subscribe(s2, -1);
  caf::anon_send_exit(s1, caf::exit_reason::user_shutdown);
  consume_messages();
  CAF_CHECK_EQUAL(subscriber_count(), 1u);
  update(R"({"temp":1})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s2));
  CAF_CHECK_EQUAL(sched.jobs.size(), 0u);
}

CAF_TEST(unsubscribe stops delivery and unknown unsubscribe is a no - op) {
  subscribe(s1, -1);
  subscribe(s2, -1);
  self->send(topic, caf::unsubscribe_atom_v, s1);
  expect((caf::unsubscribe_atom, caf::actor), from(self).to(topic).with(_, s1));
  self->send(topic, caf::unsubscribe_atom_v, s1);
  expect((caf::unsubscribe_atom, caf::actor), from(self).to(topic).with(_, s1));
  update(R"({"temp":1})");
  expect((deliver_atom, std::string, int64_t), from(topic).to(s2));
  disallow((deliver_atom, std::string, int64_t), from(topic).to(s1));
  auto [seq, epoch, subs] = info();
  CAF_CHECK_EQUAL(seq, 1u);
  CAF_CHECK_EQUAL(epoch, "ep1");
  CAF_CHECK_EQUAL(subs, 1u);
}

CAF_TEST(a topic without an epoch makes a fresh one per incarnation) {
  topic_config cfg;
  cfg.telescope_id = "x";
  auto t1 = sys.spawn(topic_actor, cfg);
  auto t2 = sys.spawn(topic_actor, cfg);
  auto e1 = std::get<1>(
    request<uint64_t, std::string, uint64_t>(t1, caf::get_atom_v));
  auto e2 = std::get<1>(
    request<uint64_t, std::string, uint64_t>(t2, caf::get_atom_v));
  CAF_CHECK(!e1.empty());
  CAF_CHECK_NOT_EQUAL(e1, e2);
}

CAF_TEST(a resume point of another epoch gets a snapshot) {
  publish_temps(1, 3);
  request<uint64_t>(topic, caf::subscribe_atom_v, s1, int64_t{2},
                    std::string{"old-epoch"});
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s1).size(), 1u);
  auto p = parse(frames(s1)[0]);
  CAF_CHECK_EQUAL(p["payload"]["full_update"].GetBool(), true);
  CAF_CHECK_EQUAL(p["payload"]["seq"].GetUint64(), 3u);
  // The same resume point with this epoch replays the one delta.
  request<uint64_t>(topic, caf::subscribe_atom_v, s2, int64_t{2},
                    std::string{"ep1"});
  consume_messages();
  CAF_CHECK_EQUAL(seqs(s2), (std::vector<uint64_t>{3}));
  CAF_CHECK_EQUAL(parse(frames(s2)[0])["payload"]["full_update"].GetBool(),
                  false);
}

// -- mirror topics (farm mode)
// --------------------------------------------------

CAF_TEST(a mirror republishes the upstream frames unchanged) {
  publish_temps(1, 2);
  auto mirror = spawn_mirror();
  self->send(mirror, follow_atom_v, topic);
  consume_messages();
  // Subscribed with no state: the upstream sent one snapshot at seq 2.
  CAF_CHECK_EQUAL(seq_at(mirror), 2u);
  CAF_CHECK_EQUAL(subscriber_count(), 1u); // one subscription upstream
  request<uint64_t>(mirror, caf::subscribe_atom_v, s1, int64_t{-1});
  subscribe(s2, 2); // s2 watches the upstream directly
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s1).size(), 1u);
  auto snap = parse(frames(s1)[0]);
  CAF_CHECK_EQUAL(snap["payload"]["seq"].GetUint64(), 2u);
  CAF_CHECK_EQUAL(str(snap["payload"]["epoch"]), "ep1");
  CAF_CHECK_EQUAL(snap["payload"]["status"]["temp"].GetInt(), 2);
  CAF_CHECK_EQUAL(str(snap["id"]).rfind("m-", 0), 0u); // its own frame id
  publish_temps(3, 2);
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s1).size(), 3u);
  CAF_REQUIRE_EQUAL(frames(s2).size(), 2u);
  // Byte for byte the upstream's frames: same id, seq, epoch.
  CAF_CHECK_EQUAL(frames(s1)[1], frames(s2)[0]);
  CAF_CHECK_EQUAL(frames(s1)[2], frames(s2)[1]);
}

CAF_TEST(a mirror replays from its own history and snapshots its state) {
  auto mirror = spawn_mirror();
  self->send(mirror, follow_atom_v, topic);
  consume_messages();
  publish_temps(1, 6); // mirror history holds seq 3..6
  consume_messages();
  request<uint64_t>(mirror, caf::subscribe_atom_v, s1, int64_t{4});
  consume_messages();
  CAF_CHECK_EQUAL(seqs(s1), (std::vector<uint64_t>{5, 6}));
  request<uint64_t>(mirror, caf::subscribe_atom_v, s2, int64_t{1});
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s2).size(), 1u);
  auto snap = parse(frames(s2)[0]);
  CAF_CHECK_EQUAL(snap["payload"]["full_update"].GetBool(), true);
  CAF_CHECK_EQUAL(snap["payload"]["seq"].GetUint64(), 6u);
  CAF_CHECK_EQUAL(snap["payload"]["status"]["temp"].GetInt(), 6);
}

CAF_TEST(a mirror following a new upstream epoch sends a snapshot of it) {
  auto mirror = spawn_mirror();
  self->send(mirror, follow_atom_v, topic);
  publish_temps(1, 3);
  request<uint64_t>(mirror, caf::subscribe_atom_v, s1, int64_t{-1});
  consume_messages();
  auto before = frames(s1).size();
  // The node of the upstream is lost: frames of the old upstream that
  // still arrive are ignored.
  self->send(mirror, follow_atom_v, caf::actor{});
  publish_temps(4, 1);
  consume_messages();
  CAF_CHECK_EQUAL(frames(s1).size(), before);
  // It comes back as a new incarnation (new epoch, seq from 1).
  topic_config cfg;
  cfg.telescope_id = "seestar-001";
  cfg.category = protocol::category::system;
  cfg.epoch = "ep2";
  cfg.id_prefix = "u2-";
  auto upstream2 = sys.spawn(topic_actor, cfg);
  owned.push_back(upstream2);
  self->send(upstream2, update_atom_v, std::string{R"({"temp":40})"}, true);
  consume_messages();
  self->send(mirror, follow_atom_v, upstream2);
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s1).size(), before + 1);
  auto snap = parse(frames(s1).back());
  CAF_CHECK_EQUAL(str(snap["payload"]["epoch"]), "ep2");
  CAF_CHECK_EQUAL(snap["payload"]["seq"].GetUint64(), 1u);
  CAF_CHECK_EQUAL(snap["payload"]["full_update"].GetBool(), true);
  CAF_CHECK_EQUAL(snap["payload"]["status"]["temp"].GetInt(), 40);
  self->send(upstream2, update_atom_v, std::string{R"({"temp":41})"}, false);
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s1).size(), before + 2);
  CAF_CHECK_EQUAL(parse(frames(s1).back())["payload"]["seq"].GetUint64(), 2u);
  // A resume point of the old epoch gets the new epoch's snapshot.
  request<uint64_t>(mirror, caf::subscribe_atom_v, s2, int64_t{3},
                    std::string{"ep1"});
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s2).size(), 1u);
  CAF_CHECK_EQUAL(str(parse(frames(s2)[0])["payload"]["epoch"]), "ep2");
  CAF_CHECK_EQUAL(parse(frames(s2)[0])["payload"]["status"]["temp"].GetInt(),
                  41);
}

CAF_TEST(an epoch that opens with a delta reaches subscribers as a snapshot) {
  auto mirror = spawn_mirror();
  self->send(mirror, follow_atom_v, topic);
  publish_temps(1, 2);
  request<uint64_t>(mirror, caf::subscribe_atom_v, s1, int64_t{-1});
  consume_messages();
  auto before = frames(s1).size();
  topic_config cfg;
  cfg.telescope_id = "seestar-001";
  cfg.category = protocol::category::system;
  cfg.epoch = "ep3";
  cfg.id_prefix = "u3-";
  auto upstream3 = sys.spawn(topic_actor, cfg);
  owned.push_back(upstream3);
  // Followed before its first update, which is a delta (seq 1).
  self->send(mirror, follow_atom_v, upstream3);
  consume_messages();
  self->send(upstream3, update_atom_v, std::string{R"({"volt":5})"}, false);
  consume_messages();
  CAF_REQUIRE_EQUAL(frames(s1).size(), before + 1);
  auto f = parse(frames(s1).back());
  CAF_CHECK_EQUAL(str(f["payload"]["epoch"]), "ep3");
  CAF_CHECK_EQUAL(f["payload"]["seq"].GetUint64(), 1u);
  CAF_CHECK_EQUAL(f["payload"]["full_update"].GetBool(), true);
  CAF_CHECK_EQUAL(names(f["payload"]["status"]), strs{"volt"});
  // Within the epoch, deltas pass through and replay as usual.
  self->send(upstream3, update_atom_v, std::string{R"({"volt":6})"}, false);
  consume_messages();
  CAF_CHECK_EQUAL(parse(frames(s1).back())["payload"]["full_update"].GetBool(),
                  false);
  request<uint64_t>(mirror, caf::subscribe_atom_v, s2, int64_t{0});
  consume_messages();
  CAF_CHECK_EQUAL(seqs(s2), (std::vector<uint64_t>{1, 2}));
}

CAF_TEST(a mirror ignores updates meant for a topic that owns its state) {
  auto mirror = spawn_mirror();
  self->send(mirror, update_atom_v, std::string{R"({"temp":1})"}, false);
  consume_messages();
  CAF_CHECK_EQUAL(seq_at(mirror), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

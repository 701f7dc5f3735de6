#define CAF_SUITE farm
// The edge side of a farm node link: the message-set check, the secret's
// challenge and response, the telescope entries a linked gateway gets, and
// fleet changes forwarded to it. (The gateway side needs the middleman:
// tests/integration/test_farm.py.)

#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <string>
#include <vector>

#include "actors/auth.hpp"
#include "actors/directory.hpp"
#include "actors/farm.hpp"
#include "actors/topic.hpp"

using namespace scopehub;

namespace {

telescope_info info_of(const std::string& id) {
  telescope_info x;
  x.id = id;
  x.name = id;
  x.node = "edge-x";
  x.online = true;
  return x;
}

struct fixture : test_coordinator_fixture<> {
  caf::actor directory;
  caf::actor edge;
  caf::actor stand_in; ///< plays the telescope actor

  fixture() {
    directory = sys.spawn(directory_actor, directory_config{});
    topic_config tc;
    tc.telescope_id = "t1";
    stand_in = sys.spawn(topic_actor, tc);
    self->send(directory, register_atom_v, info_of("t1"), stand_in,
               std::vector<caf::actor>{stand_in, stand_in, stand_in, stand_in});
    farm_edge_config ec;
    ec.node = "edge-x";
    ec.secret = "right secret";
    ec.directory = directory;
    edge = sys.spawn(farm_edge_actor, ec);
    run();
  }

  ~fixture() {
    // The edge and the directory hold each other: end both explicitly.
    for (auto& x : {edge, directory, stand_in})
      caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
    run();
  }

  /// The error a request to the edge ends with (none: a failed check).
  template<class... Ts>
  caf::error refusal(Ts... xs) {
    caf::error result;
    auto h = self->request(edge, caf::infinite, xs...);
    run();
    h.receive([](const caf::message&) { CAF_FAIL("the edge accepted"); },
              [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::string hello(const std::string& set) {
    return request<std::string>(edge, hello_atom_v, set,
                                std::string{"gw-test"});
  }

  static bool is(const caf::error& err, farm_errc code) {
    return err.category() == caf::atom("farm")
           && err.code() == static_cast<uint8_t>(code);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(farm_tests, fixture)

CAF_TEST(the message set digest is stable and names this version) {
  auto d = farm_message_set_digest();
  CAF_CHECK_EQUAL(d.size(), 16u);
  CAF_CHECK_EQUAL(d, auth::sha256_hex(farm_message_set).substr(0, 16));
  CAF_CHECK_EQUAL(std::string{farm_message_set}.rfind("scopehub-farm/", 0), 0u);
}

CAF_TEST(a peer with another message set is refused at hello) {
  auto err = refusal(hello_atom_v, std::string{"0123456789abcdef"},
                     std::string{"gw-old"});
  CAF_CHECK(is(err, farm_errc::message_set_mismatch));
  CAF_CHECK_EQUAL(request<uint64_t>(edge, caf::get_atom_v), 0u);
}

CAF_TEST(auth without a hello is refused) {
  auto err = refusal(auth_atom_v, std::string{"00"});
  CAF_CHECK(is(err, farm_errc::unauthorized));
}

CAF_TEST(a wrong secret is refused and burns the nonce) {
  auto nonce = hello(farm_message_set_digest());
  CAF_CHECK_EQUAL(nonce.size(), 32u);
  auto err = refusal(auth_atom_v, farm_proof("wrong secret", nonce, "gw-test"));
  CAF_CHECK(is(err, farm_errc::unauthorized));
  // The right proof for the used nonce no longer works.
  err = refusal(auth_atom_v, farm_proof("right secret", nonce, "gw-test"));
  CAF_CHECK(is(err, farm_errc::unauthorized));
  // Nor does a right secret with another peer name than the hello's.
  nonce = hello(farm_message_set_digest());
  err = refusal(auth_atom_v, farm_proof("right secret", nonce, "gw-other"));
  CAF_CHECK(is(err, farm_errc::unauthorized));
  CAF_CHECK_EQUAL(request<uint64_t>(edge, caf::get_atom_v), 0u);
}

CAF_TEST(the right secret links the gateway and hands it the telescopes) {
  auto nonce = hello(farm_message_set_digest());
  auto nonce2 = hello(farm_message_set_digest());
  CAF_CHECK_NOT_EQUAL(nonce, nonce2); // fresh per hello; the last one counts
  auto [node, entries] = request<std::string, std::vector<telescope_entry>>(
    edge, auth_atom_v, farm_proof("right secret", nonce2, "gw-test"));
  CAF_CHECK_EQUAL(node, "edge-x");
  CAF_REQUIRE_EQUAL(entries.size(), 1u);
  CAF_CHECK_EQUAL(entries[0].info.id, "t1");
  CAF_CHECK_EQUAL(entries[0].info.node, "edge-x");
  CAF_CHECK(entries[0].telescope == stand_in);
  CAF_CHECK_EQUAL(entries[0].topics.size(), 4u);
  CAF_CHECK_EQUAL(request<uint64_t>(edge, caf::get_atom_v), 1u);
  // A telescope added on the edge reaches the linked gateway.
  self->send(directory, register_atom_v, info_of("t2"), stand_in,
             std::vector<caf::actor>{});
  run();
  bool got = false;
  self->receive([&](fleet_atom, const telescope_entry& e,
                    const std::string&) { got = e.info.id == "t2"; },
                caf::after(std::chrono::seconds{0}) >> [] {});
  CAF_CHECK(got);
}

CAF_TEST_FIXTURE_SCOPE_END()

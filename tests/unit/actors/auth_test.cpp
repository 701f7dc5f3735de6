#define CAF_SUITE auth
#define FAIL(msg) CAF_FAIL(msg)
#include "caf/test/dsl.hpp"

#include <string>
#include <vector>

#include "actors/admission.hpp"
#include "actors/auth.hpp"
#include "actors/web_sessions.hpp"
#include "caf/all.hpp"

using namespace scopehub;

namespace {

// SHA-256 of "secret" and of "" (known vectors, e.g. `sha256sum`).
constexpr const char* secret_hash
  = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";

} // namespace

CAF_TEST(sha256 hex matches known vectors) {
  CAF_CHECK_EQUAL(auth::sha256_hex("secret"), secret_hash);
  CAF_CHECK_EQUAL(
    auth::sha256_hex(""),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

CAF_TEST(token entries parse with role label and scope) {
  std::string err;
  auto e = auth::parse_token_entry(
    std::string{secret_hash} + ":operator:alice:scope-1,site-*", &err);
  CAF_REQUIRE(e);
  CAF_CHECK_EQUAL(e->role, "operator");
  CAF_CHECK_EQUAL(e->label, "alice");
  CAF_REQUIRE_EQUAL(e->telescopes.size(), 2u);
  CAF_CHECK_EQUAL(e->telescopes[1], "site-*");
  auto minimal = auth::parse_token_entry(std::string{secret_hash} + ":admin");
  CAF_REQUIRE(minimal);
  CAF_CHECK_EQUAL(minimal->label, "token-2bb80d53");
  CAF_CHECK(minimal->telescopes.empty());
  auto upper = auth::parse_token_entry("2BB80D537B1DA3E38BD30361AA855686BDE0EAC"
                                       "D7162FEF6A25FE97BF527A25B:observer");
  CAF_CHECK(upper);
  CAF_CHECK(!auth::parse_token_entry("abc:operator", &err));
  CAF_CHECK_NOT_EQUAL(err.find("64 hex"), std::string::npos);
  CAF_CHECK(!auth::parse_token_entry(std::string{secret_hash} + ":root", &err));
  CAF_CHECK_NOT_EQUAL(err.find("role"), std::string::npos);
  CAF_CHECK(!auth::parse_token_entry(std::string{secret_hash}, &err));
  CAF_CHECK(
    !auth::parse_token_entry(std::string{secret_hash} + ":admin:bad label"));
  CAF_CHECK(
    !auth::parse_token_entry(std::string{secret_hash} + ":admin:x:a/b"));
  CAF_CHECK(
    !auth::parse_token_entry(std::string{secret_hash} + ":admin:x:a,,b"));
  CAF_CHECK(
    !auth::parse_token_entry(std::string{secret_hash} + ":admin:x:a:extra"));
}

CAF_TEST(the table finds a token by its hash only) {
  auto other = auth::sha256_hex("other");
  auto table = auth::token_table::parse(
    {other + ":observer:bob", std::string{secret_hash} + ":admin:root"});
  CAF_REQUIRE(table);
  CAF_CHECK_EQUAL(table->size(), 2u);
  auto found = table->find("secret");
  CAF_REQUIRE(found != nullptr);
  CAF_CHECK_EQUAL(found->label, "root");
  CAF_CHECK_EQUAL(table->find("other")->role, "observer");
  CAF_CHECK(table->find("secreT") == nullptr);
  CAF_CHECK(table->find("") == nullptr);
  CAF_CHECK(table->find(secret_hash) == nullptr); // the hash is no token
  std::string err;
  CAF_CHECK(!auth::token_table::parse({"nope"}, &err));
  CAF_CHECK(!err.empty());
  CAF_CHECK(auth::token_table::parse({})->empty());
}

CAF_TEST(telescope scopes take ids and globs) {
  CAF_CHECK(auth::telescope_allowed({}, "anything"));
  std::vector<std::string> scopes{"scope-1", "site-*"};
  CAF_CHECK(auth::telescope_allowed(scopes, "scope-1"));
  CAF_CHECK(auth::telescope_allowed(scopes, "site-a"));
  CAF_CHECK(!auth::telescope_allowed(scopes, "scope-2"));
  CAF_CHECK(!auth::telescope_allowed(scopes, "xsite-a"));
}

CAF_TEST(credentials come from a bearer header or the query) {
  CAF_CHECK_EQUAL(auth::bearer_token("Bearer abc"), "abc");
  CAF_CHECK_EQUAL(auth::bearer_token("bearer  abc "), "abc");
  CAF_CHECK_EQUAL(auth::bearer_token("Basic abc"), "");
  CAF_CHECK_EQUAL(auth::bearer_token("Bearer"), "");
  CAF_CHECK_EQUAL(auth::query_param("a=1&token=x%2By&b=2", "token"), "x+y");
  CAF_CHECK_EQUAL(auth::query_param("tokenx=1&token=", "token"), "");
  CAF_CHECK_EQUAL(auth::query_param("client_id=me", "token"), "");
  CAF_CHECK_EQUAL(auth::query_param("client_id=me", "client_id"), "me");
}

CAF_TEST(peer addresses drop the port) {
  CAF_CHECK_EQUAL(address_of("127.0.0.1:5555"), "127.0.0.1");
  CAF_CHECK_EQUAL(address_of("[::1]:80"), "::1");
  CAF_CHECK_EQUAL(address_of("unknown"), "unknown");
}

namespace {

struct admission_fixture : test_coordinator_fixture<> {
  caf::actor adm;
  admission_fixture() {
    admission_limits limits;
    limits.max_connections = 3;
    limits.max_per_address = 2;
    adm = sys.spawn(admission_actor, limits);
  }
  ~admission_fixture() {
    caf::anon_send_exit(adm, caf::exit_reason::user_shutdown);
    run();
  }
  admission_verdict admit(const std::string& addr) {
    return static_cast<admission_verdict>(
      request<uint8_t>(adm, caf::put_atom_v, addr));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(admission_tests, admission_fixture)

CAF_TEST(admission caps each address and the server at their edges) {
  CAF_CHECK(admit("10.0.0.1") == admission_verdict::admitted);
  CAF_CHECK(admit("10.0.0.1") == admission_verdict::admitted);     // N
  CAF_CHECK(admit("10.0.0.1") == admission_verdict::address_full); // N + 1
  CAF_CHECK(admit("10.0.0.2") == admission_verdict::admitted);     // 3 = global
  CAF_CHECK(admit("10.0.0.3") == admission_verdict::server_full);
  { // a released ticket gives its place back
    auto t = make_admission_ticket(adm, "10.0.0.1");
  }
  run();
  CAF_CHECK(admit("10.0.0.3") == admission_verdict::admitted);
  CAF_CHECK(admit("10.0.0.1") == admission_verdict::server_full);
  self->send(adm, caf::delete_atom_v, std::string{"10.0.0.2"});
  run();
  CAF_CHECK(admit("10.0.0.1") == admission_verdict::admitted);
  CAF_CHECK(admit("10.0.0.1") == admission_verdict::server_full);
}

CAF_TEST(exempt addresses skip the per address cap but not the global one) {
  run(); // the actor initializes its limits first
  auto& st = deref<caf::stateful_actor<admission_state>>(adm).state;
  st.limits.exempt = {"127.0.0.1"};
  CAF_CHECK(admit("127.0.0.1") == admission_verdict::admitted);
  CAF_CHECK(admit("127.0.0.1") == admission_verdict::admitted);
  CAF_CHECK(admit("127.0.0.1") == admission_verdict::admitted); // 3 > 2
  CAF_CHECK(admit("127.0.0.1") == admission_verdict::server_full);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(cookies are found by name) {
  CAF_CHECK_EQUAL(
    cookie_value("a=1; scopehub_session=xyz; b=2", "scopehub_session"), "xyz");
  CAF_CHECK_EQUAL(cookie_value("scopehub_session=q", "scopehub_session"), "q");
  CAF_CHECK_EQUAL(cookie_value("xscopehub_session=q", "scopehub_session"), "");
  CAF_CHECK_EQUAL(cookie_value("", "scopehub_session"), "");
  auto a = random_session_id();
  CAF_CHECK_EQUAL(a.size(), 64u);
  CAF_CHECK_NOT_EQUAL(a, random_session_id());
}

namespace {

struct web_sessions_fixture : test_coordinator_fixture<> {
  caf::actor store = sys.spawn(web_sessions_actor, size_t{2});
  ~web_sessions_fixture() {
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
    run();
  }
  std::string create(const std::string& label, int64_t ttl_ms = 60000) {
    return request<std::string>(store, caf::put_atom_v, label,
                                std::string{"operator"},
                                std::vector<std::string>{"scope-1"}, ttl_ms);
  }
  bool found(const std::string& id) {
    auto r = request<bool, std::string, std::string, std::vector<std::string>>(
      store, caf::get_atom_v, id);
    return std::get<0>(r);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(web_session_tests, web_sessions_fixture)

CAF_TEST(web sessions are created found revoked and bounded) {
  auto a = create("alice");
  CAF_REQUIRE_EQUAL(a.size(), 64u);
  auto& st = deref<caf::stateful_actor<web_sessions_state>>(store).state;
  CAF_REQUIRE_EQUAL(st.sessions.size(), 1u);
  CAF_CHECK_EQUAL(st.sessions.count(a), 0u); // only its hash is stored
  CAF_CHECK_EQUAL(st.sessions.begin()->second.label, "alice");
  CAF_CHECK_EQUAL(st.sessions.begin()->second.telescopes.size(), 1u);
  CAF_CHECK(found(a));
  CAF_CHECK(!found("not-an-id"));
  CAF_CHECK(request<bool>(store, caf::delete_atom_v, a));
  CAF_CHECK(!found(a));
  CAF_CHECK(!request<bool>(store, caf::delete_atom_v, a));
  CAF_CHECK(st.sessions.empty());
  create("b");
  create("c");
  create("d"); // over max_sessions = 2: the oldest-expiring one goes
  CAF_CHECK_EQUAL(st.sessions.size(), 2u);
}

CAF_TEST_FIXTURE_SCOPE_END()

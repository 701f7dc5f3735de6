#define CAF_SUITE udp_discovery
#include "caf/test/unit_test.hpp"

#include "net/udp_discovery.hpp"

using scopehub::net::discovered_scope;
using scopehub::net::parse_discovery_reply;

CAF_TEST(a scan_iscope answer names the telescope and its port) {
  discovered_scope s;
  CAF_REQUIRE(parse_discovery_reply(
    R"({"jsonrpc":"2.0","Timestamp":"1.0","method":"scan_iscope","result":)"
    R"({"product_model":"Seestar S50","sn":"ABC123","ip":"10.0.0.1",)"
    R"("is_verified":true},"code":0,"id":201})",
    "127.0.0.1", s));
  CAF_CHECK_EQUAL(s.id, "seestar-abc123");
  CAF_CHECK_EQUAL(s.serial, "ABC123");
  CAF_CHECK_EQUAL(s.model, "Seestar S50");
  CAF_CHECK_EQUAL(s.host, "127.0.0.1"); // where it answered from, not "ip"
  CAF_CHECK_EQUAL(s.port, 4700);
}

CAF_TEST(the simulator name and port additions are used) {
  discovered_scope s;
  CAF_REQUIRE(parse_discovery_reply(
    R"({"jsonrpc":"2.0","Timestamp":"1.0","method":"scan_iscope","result":)"
    R"({"sn":"X","name":"sim-7","port":41234},"code":0,"id":1})",
    "127.0.0.1", s));
  CAF_CHECK_EQUAL(s.id, "sim-7");
  CAF_CHECK_EQUAL(s.port, 41234);
}

CAF_TEST(garbage and error answers are skipped) {
  discovered_scope s;
  CAF_CHECK(!parse_discovery_reply(R"({"name":"unescaped "quote"})", "h", s));
  CAF_CHECK(!parse_discovery_reply(
    R"({"jsonrpc":"2.0","method":"scan_iscope","error":"Second root",)"
    R"("code":101,"id":1})",
    "h", s));
  CAF_CHECK(!parse_discovery_reply(
    R"({"jsonrpc":"2.0","method":"scan_iscope","result":{"sn":""},)"
    R"("code":0,"id":1})",
    "h", s));
  CAF_CHECK(!parse_discovery_reply(
    R"({"jsonrpc":"2.0","method":"test_connection","result":"x","code":0,)"
    R"("id":1})",
    "h", s));
}

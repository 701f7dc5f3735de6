#pragma once

// Farm mode: telescopes on several nodes behind one or more gateways, on
// CAF's middleman (README "Farm", docs/protocol.md "Farm mode").
//
// An edge publishes one farm_edge actor on its node port. A gateway runs
// one farm_link actor per configured edge, which
//   1. connects (middleman `connect_atom`, loopback by default);
//   2. sends (hello_atom, message-set digest, gateway name) and gets a
//      nonce; a peer with another message set is refused (logged on both);
//   3. sends (auth_atom, HMAC-SHA256(secret, nonce|name)) and gets the edge's
//      node name and telescope entries; a wrong secret is refused;
//   4. registers every remote telescope in the gateway's directory with
//      four local mirror topics (actors/topic.hpp), each following its
//      edge topic, so an update crosses the link once and fans out locally
//      with the edge's seq and epoch;
//   5. follows the edge's fleet changes (fleet_atom from the edge actor);
//   6. on losing the edge (a down message of the remote edge actor),
//      reconnects with backoff; the gateway's directory reports the
//      telescopes lost with the node named (actors/directory.cpp), and
//      sessions answer their pending commands TELESCOPE_UNAVAILABLE.
// Commands go from a gateway's session straight to the telescope actor on
// its edge, so idempotency and the control lease live with the telescope
// and hold across gateways.
//
// farm_edge interface:
//   (hello_atom, std::string message_set, std::string peer) -> std::string
//   (auth_atom, std::string proof)
//       -> (std::string node, std::vector<telescope_entry>)
//   (caf::get_atom) -> uint64_t authenticated gateways
// and it sends (fleet_atom, telescope_entry, std::string) to gateways.
//
// farm_link interface:
//   (caf::get_atom) -> (bool up, std::string node, uint64_t telescopes)

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "caf/actor.hpp"
#include "caf/behavior.hpp"
#include "caf/error.hpp"
#include "caf/node_id.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/messages.hpp"
#include "actors/topic.hpp"

namespace scopehub {

/// Why an edge refused a node link.
enum class farm_errc : uint8_t {
  /// The peer runs another message set (another scopehub version).
  message_set_mismatch = 1,
  /// No hello before auth, or a wrong proof (wrong secret).
  unauthorized,
};

std::string to_string(farm_errc x);

/// Short digest (16 hex) of `farm_message_set` (actors/messages.hpp).
std::string farm_message_set_digest();

/// The proof a gateway sends: HMAC-SHA256 under `secret` of "nonce|peer".
std::string farm_proof(std::string_view secret, std::string_view nonce,
                       std::string_view peer);

// -- edge ---------------------------------------------------------------------

struct farm_edge_config {
  std::string node;        ///< this edge's name (telescope_info.node)
  std::string secret;      ///< the farm's shared secret
  caf::actor directory;    ///< the edge's directory
  std::string message_set; ///< empty: farm_message_set_digest()
};

struct farm_edge_state {
  farm_edge_config cfg;
  /// Nonces handed out and not used yet, by the asking node.
  std::map<caf::node_id, std::string> nonces;
  /// Authenticated gateway link actors, each monitored.
  std::vector<caf::actor> gateways;
  static inline const char* name = "farm_edge";
};

caf::behavior farm_edge_actor(caf::stateful_actor<farm_edge_state>* self,
                              farm_edge_config cfg);

// -- gateway ------------------------------------------------------------------

struct farm_link_config {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string secret;
  std::string name = "gateway"; ///< this gateway, for the edge's logs
  caf::actor directory;         ///< the gateway's directory
  size_t history = default_topic_history;
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_cap{10000};
  std::string message_set; ///< empty: farm_message_set_digest()
};

struct farm_link_state {
  /// A telescope of the edge as the gateway holds it.
  struct remote {
    telescope_info info;
    caf::actor telescope;
    std::vector<caf::actor> upstream; ///< the edge's topics
    std::vector<caf::actor> mirrors;  ///< local mirror topics
  };

  farm_link_config cfg;
  caf::actor edge;  ///< the edge's farm actor while linked
  std::string node; ///< the edge's name, once known
  std::map<std::string, remote> telescopes;
  unsigned attempt = 0;
  /// Numbers connection attempts: answers to an older one are ignored.
  uint64_t generation = 0;
  bool up = false;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "farm_link";
};

caf::behavior farm_link_actor(caf::stateful_actor<farm_link_state>* self,
                              farm_link_config cfg);

} // namespace scopehub

CAF_ERROR_CODE_ENUM(scopehub::farm_errc, "farm")

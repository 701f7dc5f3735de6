#pragma once

// net/udp_discovery: finds Seestars by sending the `scan_iscope` probe
// (seestar-protocol §5) by unicast UDP to each configured address, at start
// and then periodically, and reports every answer. It never broadcasts:
// the addresses come from config (`telescopes.discover`), tests use
// 127.0.0.1 only.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
} // namespace boost::asio

namespace scopehub::net {

/// One telescope that answered a probe.
struct discovered_scope {
  std::string id;     ///< the reply's "name" if a valid id, else "seestar-<sn>"
  std::string serial; ///< "sn"
  std::string model;  ///< "product_model"
  std::string host;   ///< address the answer came from
  uint16_t port = 4700; ///< JSON-RPC port ("port" if the reply has one)
};

struct discovery_options {
  /// "host" or "host:port" (UDP port, default 4720). No broadcast address
  /// is ever derived: only these are probed.
  std::vector<std::string> targets;
  /// Time between probe rounds (replies are accepted at any time).
  std::chrono::milliseconds interval{std::chrono::seconds{30}};
};

/// Parses one reply datagram; false when it is not a scan_iscope answer
/// (firmware may echo bad JSON: such datagrams are skipped). Pure, for tests.
bool parse_discovery_reply(const std::string& datagram,
                           const std::string& from_host, discovered_scope& out);

/// Probes the targets on an io_context until stopped.
class udp_discovery {
 public:
  using callback = std::function<void(const discovered_scope&)>;

  /// `on_found` runs on the io_context for every valid answer (the same
  /// telescope answers every round: deduplicate downstream).
  udp_discovery(boost::asio::io_context& ioc, discovery_options opts,
                callback on_found);
  ~udp_discovery();

  /// Opens the socket and sends the first round. Returns an error text
  /// (bad target) or empty on success.
  std::string start();

  /// Closes the socket and the timer (posted to the io_context).
  void stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

} // namespace scopehub::net

#pragma once

// scopebench --farm: the fake device's telescope behind a two-process farm
// (actors/farm.hpp). An edge scopehub connects to the device and publishes
// it on a node link (127.0.0.1, a port the edge picks); a gateway scopehub
// links to that edge with a random per-run secret, and the clients talk to
// the gateway only. rig::start (ws_rig.hpp) starts both and waits until the
// gateway lists the telescope online; rig::finish stops the gateway, then
// the edge.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/system/error_code.hpp>

namespace scopebench {

/// The edge's node name (telescope_info.node as the gateway lists it).
inline constexpr const char* farm_edge_node = "bench-edge";

/// Flags of the edge (after server_proc's `--port=0 --host=127.0.0.1
/// --sim.count=0`): the device as its only telescope, the node link on
/// 127.0.0.1 at a port it picks, then `extra`.
std::vector<std::string> farm_edge_args(const std::string& telescope,
                                        uint16_t device_port,
                                        const std::string& secret,
                                        const std::vector<std::string>& extra);

/// Flags of the gateway: linked to the edge at 127.0.0.1:`edge_port`,
/// then `extra`.
std::vector<std::string>
farm_gateway_args(uint16_t edge_port, const std::string& secret,
                  const std::vector<std::string>& extra);

/// True when a `GET /api/telescopes` body lists `telescope` online on the
/// edge's node.
bool farm_lists_online(std::string_view body, const std::string& telescope);

/// `GET <target>` on 127.0.0.1:`port` on `ioc` (2 s budget); `done` gets
/// the error (if any), the status and the body. Runs on the io_context's
/// thread, so the fake device keeps answering meanwhile.
void http_get(
  boost::asio::io_context& ioc, uint16_t port, std::string target,
  std::function<void(boost::system::error_code, unsigned, std::string)> done);

} // namespace scopebench

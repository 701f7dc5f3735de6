#pragma once

// The simulated device's TCP JSON-RPC endpoint (port 4700 on a real
// Seestar): accepts clients, turns request lines into device_model calls,
// sends each reply to its asker and broadcasts events to every client,
// and applies the fault plan on the way out. Everything runs on the
// caller's io_context from one thread; no handler blocks.

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sim/device_model.hpp"
#include "sim/fault_plan.hpp"
#include "sim/rpc_connection.hpp"

namespace scopehub::sim {

struct rpc_config {
  std::string bind = "127.0.0.1";
  uint16_t port = 0;                        ///< 0: ephemeral
  double time_scale = 1.0;                  ///< device seconds per second
  size_t max_line = 64 * 1024;              ///< longest request line
  size_t max_queue_bytes = 4 * 1024 * 1024; ///< per-client output backlog
  double reboot_s = 5.0; ///< device seconds without service (pi_reboot)
  uint32_t seed = 1;
};

class rpc_server : public std::enable_shared_from_this<rpc_server> {
 public:
  using tcp = boost::asio::ip::tcp;

  rpc_server(boost::asio::io_context& io, rpc_config cfg, device_config dev,
             fault_plan faults);

  /// Binds and listens; throws boost::system::system_error on failure.
  void start();

  /// Closes the listener and every client, cancels timers.
  void stop();

  /// The bound TCP port (after start()).
  uint16_t port() const { return port_; }

  /// Clients currently connected.
  size_t client_count() const;

  /// Replaces the fault plan; takes effect for the next message.
  void set_faults(fault_plan plan);

  const fault_plan& faults() const { return faults_; }

  const device_model& model() const { return model_; }

  /// Device name, for log lines.
  const std::string& name() const { return model_.config().name; }

  /// Seconds since start, scaled by time_scale: the device's uptime.
  double device_now() const;

  /// Called by a connection for each request line it reads.
  void on_line(const std::shared_ptr<rpc_connection>& conn,
               std::string_view line);

 private:
  enum class kind : uint8_t { reply, event, control };

  void do_accept();
  void on_accept(const boost::system::error_code& ec, tcp::socket sock);
  void handle_sim(const std::shared_ptr<rpc_connection>& conn,
                  const rapidjson::Value& id, std::string_view method,
                  const rapidjson::Value& params);
  void reply(const std::shared_ptr<rpc_connection>& conn,
             const rapidjson::Value& id, std::string_view method,
             const outcome& r, kind k);
  void deliver(const std::shared_ptr<rpc_connection>& conn, shared_line line,
               kind k);
  void broadcast_events();
  void reschedule();
  void on_tick();
  void begin_reboot();
  bool roll(double probability);

  boost::asio::io_context& io_;
  rpc_config cfg_;
  device_model model_;
  fault_plan faults_;
  tcp::acceptor acceptor_;
  boost::asio::steady_timer tick_;
  boost::asio::steady_timer accept_retry_;
  std::vector<std::weak_ptr<rpc_connection>> conns_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point rebooting_until_{};
  std::mt19937 rng_;
  uint64_t next_id_ = 1;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

} // namespace scopehub::sim

#pragma once

// A simulated ZWO Seestar: TCP JSON-RPC with the device's events, optional
// UDP discovery, a device model with real-looking timings, and a fault
// plan. It runs on the io_context the caller supplies (the server embeds
// it in-process; apps/seestar_sim.cpp runs it alone). Call its functions
// from the thread that runs that io_context (or before it runs); nothing
// blocks. Destroy the simulator before its io_context.
//
//   boost::asio::io_context io;
//   scopehub::sim::options opt;
//   opt.name = "sim-1";
//   opt.serial = "SIM0001";
//   opt.time_scale = 10;                 // ten times faster than real
//   scopehub::sim::simulator sim{io, opt};
//   sim.start();                         // binds; throws on failure
//   connect to 127.0.0.1:sim.port() ... io.run();

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>

#include "sim/fault_plan.hpp"

namespace scopehub::sim {

class rpc_server;
class discovery;

struct options {
  std::string name = "seestar-sim";
  std::string serial; ///< empty: derived from name
  std::string model = "Seestar S50";
  int firmware_int = 2582;                ///< "5.82"
  uint16_t port = 0;                      ///< TCP; 0 = ephemeral
  std::optional<uint16_t> discovery_port; ///< UDP; unset = off, 0 = ephemeral
  std::string bind = "127.0.0.1";
  double time_scale = 1.0; ///< 10 = ten times faster
  double battery_drain_pct_per_min = 0.2;
  double latitude = 50.0;  ///< degrees north
  double longitude = 10.0; ///< degrees east
  fault_plan faults;
  uint32_t seed = 0; ///< 0: random
};

class simulator {
 public:
  simulator(boost::asio::io_context& io, options opts);

  /// Stops (see stop()).
  ~simulator();

  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  /// Binds the TCP (and UDP) sockets and starts serving. Throws
  /// boost::system::system_error when a socket cannot be bound.
  void start();

  /// Closes every socket and cancels timers; pending handlers finish
  /// harmlessly on the io_context.
  void stop();

  /// Bound TCP port (after start()).
  uint16_t port() const;

  /// Bound UDP discovery port, if discovery is on (after start()).
  std::optional<uint16_t> discovery_port() const;

  /// Replaces the fault plan (same as the sim_set_faults method).
  void set_faults(fault_plan plan);

  /// The fault plan in force.
  fault_plan faults() const;

  /// TCP clients currently connected.
  size_t client_count() const;

  const options& opts() const { return opts_; }

 private:
  options opts_;
  std::shared_ptr<rpc_server> rpc_;
  std::shared_ptr<discovery> disco_;
  boost::asio::io_context& io_;
};

} // namespace scopehub::sim

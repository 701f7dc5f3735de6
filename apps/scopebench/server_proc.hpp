#pragma once

// scopehub as a child process of scopebench, on an ephemeral loopback
// port, stopped (SIGTERM, then SIGKILL) when the object goes away. A
// standalone server gets the bench's fake device as its only telescope;
// with --farm, one object is the edge (the device's telescope, a node link
// port) and one the gateway the clients use (apps/scopebench/farm.hpp).

#include <cstdint>
#include <string>
#include <vector>

namespace scopebench {

class server_proc {
 public:
  server_proc() = default;
  server_proc(const server_proc&) = delete;
  server_proc& operator=(const server_proc&) = delete;
  ~server_proc() { stop(); }

  /// Starts `exe` with `--port=0 --sim.count=0
  /// --telescopes.connect=["<telescope>=127.0.0.1:<device_port>"]` plus
  /// `extra`, stderr appended to `log`; waits (at most 15 s) for the
  /// "scopehub listening on 127.0.0.1:PORT" line. Returns an error text,
  /// empty on success.
  std::string start(const std::string& exe, const std::string& telescope,
                    uint16_t device_port, const std::vector<std::string>& extra,
                    const std::string& log);

  /// Starts `exe --port=0 --host=127.0.0.1 --sim.count=0 <args>`, stderr
  /// appended to `log`, and waits (at most 15 s) for its listening line;
  /// with `farm_link`, also for "scopehub farm link on 127.0.0.1:PORT"
  /// (an edge). `name` labels the pid line on stderr. Returns an error
  /// text, empty on success.
  std::string spawn(const std::string& exe, std::vector<std::string> args,
                    const std::string& log, const char* name,
                    bool farm_link = false);

  /// SIGTERM, wait up to 5 s, then SIGKILL. Idempotent.
  void stop();

  int pid() const { return pid_; }
  uint16_t port() const { return port_; }
  /// An edge's node link port (0 unless spawned with `farm_link`).
  uint16_t farm_port() const { return farm_port_; }

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
  uint16_t farm_port_ = 0;
};

} // namespace scopebench

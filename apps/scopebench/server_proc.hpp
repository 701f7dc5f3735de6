#pragma once

// scopehub as a child process of scopebench: started with the bench's fake
// device as its only telescope, on an ephemeral loopback port, and stopped
// (SIGTERM, then SIGKILL) when the object goes away.

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

  /// SIGTERM, wait up to 5 s, then SIGKILL. Idempotent.
  void stop();

  int pid() const { return pid_; }
  uint16_t port() const { return port_; }

 private:
  int pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
};

} // namespace scopebench

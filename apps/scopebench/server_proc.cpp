#include "apps/scopebench/server_proc.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace scopebench {

namespace {

/// Looks for the complete line `<marker>HOST:PORT` in `out`. Returns 0
/// while it is not there, the port once it is, or sets `error` when HOST
/// is not 127.0.0.1.
uint16_t announced_port(const std::string& out, const std::string& marker,
                        std::string& error) {
  auto pos = out.find(marker);
  if (pos == std::string::npos) return 0;
  auto eol = out.find('\n', pos);
  if (eol == std::string::npos) return 0;
  auto addr = out.substr(pos + marker.size(), eol - pos - marker.size());
  auto colon = addr.rfind(':');
  if (colon == std::string::npos || addr.substr(0, colon) != "127.0.0.1") {
    error = "server listens on a non-loopback address: " + addr;
    return 0;
  }
  unsigned long port = 0;
  try {
    port = std::stoul(addr.substr(colon + 1));
  } catch (const std::exception&) {}
  if (port == 0 || port > 65535) error = "bad port in \"" + addr + '"';
  return static_cast<uint16_t>(port);
}

} // namespace

std::string server_proc::start(const std::string& exe,
                               const std::string& telescope,
                               uint16_t device_port,
                               const std::vector<std::string>& extra,
                               const std::string& log) {
  std::vector<std::string> args{"--telescopes.connect=[\"" + telescope
                                + "=127.0.0.1:" + std::to_string(device_port)
                                + "\"]"};
  args.insert(args.end(), extra.begin(), extra.end());
  return spawn(exe, std::move(args), log, "server");
}

std::string server_proc::spawn(const std::string& exe,
                               std::vector<std::string> extra,
                               const std::string& log, const char* name,
                               bool farm_link) {
  std::vector<std::string> args{exe, "--port=0", "--host=127.0.0.1",
                                "--sim.count=0"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return std::string{"pipe: "} + std::strerror(errno);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, exe.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return "cannot start " + exe + ": " + std::strerror(rc);
  }
  pid_ = pid;
  out_fd_ = fds[0];
  // Read stdout until the listening line (or 15 s, or exit). An edge
  // prints its node link line before it.
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
  for (;;) {
    std::string error;
    if (farm_link && farm_port_ == 0)
      farm_port_ = announced_port(out, "scopehub farm link on ", error);
    if (error.empty() && (!farm_link || farm_port_ != 0))
      port_ = announced_port(out, "scopehub listening on ", error);
    if (!error.empty()) return error;
    if (port_ != 0) {
      // For profilers: `perf record -p <pid>` while the load runs.
      if (farm_link)
        std::fprintf(stderr, "scopebench: %s pid %d port %u farm link %u\n",
                     name, pid_, static_cast<unsigned>(port_),
                     static_cast<unsigned>(farm_port_));
      else
        std::fprintf(stderr, "scopebench: %s pid %d port %u\n", name, pid_,
                     static_cast<unsigned>(port_));
      return {};
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0)
      return farm_link && farm_port_ == 0
               ? "server did not print its farm link port within 15 s"
               : "server did not print its port within 15 s";
    pollfd p{out_fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char buf[512];
    auto n = read(out_fd_, buf, sizeof(buf));
    if (n <= 0) return "server exited before listening (see its log)";
    out.append(buf, static_cast<size_t>(n));
  }
}

void server_proc::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    bool reaped = false;
    for (int i = 0; i < 500 && !reaped; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_)
        reaped = true;
      else
        std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    if (!reaped) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  port_ = 0;
  farm_port_ = 0;
  if (out_fd_ >= 0) {
    close(out_fd_);
    out_fd_ = -1;
  }
}

} // namespace scopebench

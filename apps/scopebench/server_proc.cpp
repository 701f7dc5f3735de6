#include "apps/scopebench/server_proc.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace scopebench {

std::string server_proc::start(const std::string& exe,
                               const std::string& telescope,
                               uint16_t device_port,
                               const std::vector<std::string>& extra,
                               const std::string& log) {
  std::vector<std::string> args{exe, "--port=0", "--host=127.0.0.1",
                                "--sim.count=0"};
  args.push_back("--telescopes.connect=[\"" + telescope
                 + "=127.0.0.1:" + std::to_string(device_port) + "\"]");
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
  // Read stdout until the listening line (or 15 s, or exit).
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{15};
  const std::string marker = "scopehub listening on ";
  for (;;) {
    auto pos = out.find(marker);
    if (pos != std::string::npos) {
      auto eol = out.find('\n', pos);
      if (eol != std::string::npos) {
        auto addr = out.substr(pos + marker.size(), eol - pos - marker.size());
        auto colon = addr.rfind(':');
        if (colon == std::string::npos || addr.substr(0, colon) != "127.0.0.1")
          return "server listens on a non-loopback address: " + addr;
        port_ = static_cast<uint16_t>(std::stoul(addr.substr(colon + 1)));
        // For profilers: `perf record -p <pid>` while the load runs.
        std::fprintf(stderr, "scopebench: server pid %d port %u\n", pid_,
                     static_cast<unsigned>(port_));
        return {};
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0) return "server did not print its port within 15 s";
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
  if (out_fd_ >= 0) {
    close(out_fd_);
    out_fd_ = -1;
  }
}

} // namespace scopebench

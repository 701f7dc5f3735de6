// seestar-sim: one simulated ZWO Seestar on 127.0.0.1 (TCP JSON-RPC, UDP
// discovery, fault injection). Run `seestar-sim --help` for the options;
// with --port=0 it prints `port=<n>` (and `discovery_port=<n>`) on stdout
// so a script can find it. Stops on SIGINT/SIGTERM; SIGUSR1 clears the
// fault plan (the way out of stall=1 from outside).

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "sim/simulator.hpp"

namespace {

constexpr const char* usage = R"(usage: seestar-sim [options]

A simulated ZWO Seestar speaking the JSON-RPC protocol of TCP port 4700.

  --port=N              TCP port (default 4700; 0 = pick a free one)
  --discovery-port=N    answer UDP scan_iscope probes on N (0 = free port;
                        default: off)
  --bind=ADDR           address to bind (default 127.0.0.1)
  --name=NAME           device name (default seestar-sim)
  --serial=SN           serial number (default: derived from the name)
  --model=MODEL         product model (default "Seestar S50")
  --firmware=INT        firmware_ver_int (default 2582 = "5.82")
  --time-scale=X        run X times faster than real time (default 1)
  --battery-drain=PCT   battery drain in % per minute (default 0.2)
  --latitude=DEG        site latitude, north positive (default 50)
  --longitude=DEG       site longitude, east positive (default 10)
  --seed=N              random seed (default: random)
  --faults=SPEC         fault plan, e.g. latency=200,drop_replies=30
  --log-level=LEVEL     trace, debug, info, warn, error, off (default info)
  --help                this text

Fault plan SPEC: comma-separated key=value items ("none" = no faults):
  latency=MS            delay every reply by MS milliseconds
  jitter=MS             plus or minus up to MS on each reply
  drop_replies=PCT      never send PCT % of the replies
  drop_events=PCT       do not send PCT % of the events (per client)
  disconnect_after=N    close a client after N messages sent to it
  disconnect_random=P   close a client with probability P per message
  stall=1               stop reading and writing on every connection, socket
                        stays open (clear with sim_set_faults elsewhere, or
                        SIGUSR1)
  garbage_every=N       send a non-JSON line before every Nth message
  garbage=P             ... or with probability P per message
  truncate_every=N      cut every Nth message in half (still one line)
  truncate=P            ... or with probability P per message
  error_code=CODE       answer requests with device error CODE
  error_method=METHOD   ... only requests for METHOD
  refuse=1              reset new TCP connections at once
At run time: {"id":1,"method":"sim_set_faults","params":{"spec":"..."}}
and {"id":2,"method":"sim_get_faults"} on the TCP connection.

stdout: "port=<tcp>" then, with discovery, "discovery_port=<udp>".
Logs go to stderr.
)";

/// `--key=value` -> value when arg starts with `--key=`.
std::optional<std::string_view> opt(std::string_view arg,
                                    std::string_view key) {
  if (arg.size() > key.size() + 2 && arg.substr(0, 2) == "--"
      && arg.substr(2, key.size()) == key && arg[key.size() + 2] == '=')
    return arg.substr(key.size() + 3);
  return std::nullopt;
}

bool to_number(std::string_view s, double& out) {
  std::string tmp{s};
  char* end = nullptr;
  out = std::strtod(tmp.c_str(), &end);
  return !tmp.empty() && end == tmp.c_str() + tmp.size();
}

bool to_port(std::string_view s, uint16_t& out) {
  double d = 0;
  if (!to_number(s, d) || d < 0 || d > 65535 || d != static_cast<int>(d))
    return false;
  out = static_cast<uint16_t>(d);
  return true;
}

int bad(std::string_view arg, std::string_view why) {
  std::cerr << "seestar-sim: " << arg << ": " << why << "\n"
            << "try seestar-sim --help\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  scopehub::sim::options o;
  o.port = 4700;
  std::string level = "info";
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    double num = 0;
    if (a == "--help" || a == "-h") {
      std::cout << usage;
      return 0;
    } else if (auto v = opt(a, "port")) {
      if (!to_port(*v, o.port)) return bad(a, "expected a port number");
    } else if (auto v = opt(a, "discovery-port")) {
      uint16_t p = 0;
      if (!to_port(*v, p)) return bad(a, "expected a port number");
      o.discovery_port = p;
    } else if (auto v = opt(a, "bind")) {
      o.bind = std::string{*v};
    } else if (auto v = opt(a, "name")) {
      o.name = std::string{*v};
    } else if (auto v = opt(a, "serial")) {
      o.serial = std::string{*v};
    } else if (auto v = opt(a, "model")) {
      o.model = std::string{*v};
    } else if (auto v = opt(a, "firmware")) {
      if (!to_number(*v, num) || num < 2000 || num > 9999)
        return bad(a, "expected a firmware_ver_int like 2582");
      o.firmware_int = static_cast<int>(num);
    } else if (auto v = opt(a, "time-scale")) {
      if (!to_number(*v, num) || !(num > 0) || num > 10000)
        return bad(a, "expected a number in (0, 10000]");
      o.time_scale = num;
    } else if (auto v = opt(a, "battery-drain")) {
      if (!to_number(*v, num) || num < 0)
        return bad(a, "expected a non-negative number");
      o.battery_drain_pct_per_min = num;
    } else if (auto v = opt(a, "latitude")) {
      if (!to_number(*v, num) || num < -90 || num > 90)
        return bad(a, "expected degrees in [-90, 90]");
      o.latitude = num;
    } else if (auto v = opt(a, "longitude")) {
      if (!to_number(*v, num) || num < -180 || num > 180)
        return bad(a, "expected degrees in [-180, 180]");
      o.longitude = num;
    } else if (auto v = opt(a, "seed")) {
      if (!to_number(*v, num) || num < 0 || num > 4294967295.0)
        return bad(a, "expected an unsigned integer");
      o.seed = static_cast<uint32_t>(num);
    } else if (auto v = opt(a, "faults")) {
      std::string err;
      auto plan = scopehub::sim::fault_plan::parse(*v, &err);
      if (!plan) return bad(a, err);
      o.faults = *plan;
    } else if (auto v = opt(a, "log-level")) {
      level = std::string{*v};
    } else {
      return bad(a, "unknown option");
    }
  }
  auto logger = spdlog::stderr_color_mt("seestar-sim");
  spdlog::set_default_logger(logger);
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return bad("--log-level=" + level, "unknown level");
  spdlog::set_level(lvl);

  boost::asio::io_context io;
  scopehub::sim::simulator sim{io, o};
  try {
    sim.start();
  } catch (const std::exception& e) {
    spdlog::error("cannot start: {}", e.what());
    return 1;
  }
  std::printf("port=%u\n", static_cast<unsigned>(sim.port()));
  if (auto d = sim.discovery_port())
    std::printf("discovery_port=%u\n", static_cast<unsigned>(*d));
  std::fflush(stdout);

  boost::asio::signal_set stop_signals{io, SIGINT, SIGTERM};
  stop_signals.async_wait([&](auto ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping", sig);
    sim.stop();
    io.stop();
  });
  boost::asio::signal_set usr1{io, SIGUSR1};
  std::function<void()> wait_usr1 = [&] {
    usr1.async_wait([&](auto ec, int) {
      if (ec) return;
      spdlog::info("SIGUSR1: clearing the fault plan");
      sim.set_faults({});
      wait_usr1();
    });
  };
  wait_usr1();
  io.run();
  return 0;
}

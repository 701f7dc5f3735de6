// scopebench: load generator for scopehub that is also the fake Seestar.
//
//   scopebench fanout  [--subs=100] [--rate=20] [--duration=5] [--slow=0]
//   scopebench command [--clients=1] [--duration=5]
//   scopebench conns   [--conns=1000] [--duration=3] [--settle=2]
//   scopebench connect-rate [--conns=1000] [--inflight=64]
//   scopebench soak    [--conns=1000] [--duration=60] [--rate=1]
//                      [--clients=4] [--command-rate=20] [--sample=5]
//                      [--warmup=max(10,D/10)]   (--duration up to 4 h)
//   common: [--server=build/release/apps/scopehub] [--server-log=FILE]
//           [--server-arg=FLAG]... [--connect-parallel=128] [--farm]
//
// Each run starts its own fake device on 127.0.0.1 and scopehub as a
// child process pointed at it (--sim.count=0 --port=0
// --telescopes.connect), runs a bounded load on one thread, stops the
// child and prints one JSON line on stdout (bench/README.md explains the
// fields). Only loopback is ever used: --host accepts nothing else.
//
// --farm (every scenario): two children instead of one. An edge
// (--farm.role=edge) holds the fake device and publishes it on a node link
// at 127.0.0.1 (a port the edge picks); a gateway (--farm.role=gateway)
// links to it with a random per-run --farm.secret. Once the gateway lists
// `bench` online, the clients run against the gateway only. The
// --server-args go to both; both log to --server-log; both are stopped at
// the end (gateway first; SIGTERM, then wait). The line says "farm":true
// and "server_process":"gateway": server_rss_kb, rss_*_kb, server_cores
// are the gateway's, edge_cores and edge_rss_kb the edge's.

#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include <sys/resource.h>

#include "apps/scopebench/common.hpp"
#include "apps/scopebench/scenarios.hpp"

namespace {

using scopebench::options;

void usage() {
  std::fputs(
    "usage: scopebench fanout|command|conns|connect-rate|soak [--server=PATH]\n"
    "         [--subs=N] [--rate=R] [--duration=S] [--clients=C] [--conns=N]\n"
    "         [--inflight=C] [--slow=N] [--command-rate=Q] [--sample=S]\n"
    "         [--warmup=S] [--settle=S] [--server-log=FILE]\n"
    "         [--server-arg=FLAG]... [--connect-parallel=N] "
    "[--host=127.0.0.1]\n"
    "         [--farm]\n"
    "--farm:  run the clients against a gateway scopehub linked to an edge\n"
    "         scopehub that holds the fake device (two children, node link\n"
    "         on 127.0.0.1, random secret; --server-args go to both);\n"
    "         server_* RSS/CPU fields are the gateway's, edge_* the edge's.\n"
    "connect-rate: N connect+upgrade+subscribe+snapshot+close cycles\n"
    "         (--conns, default 1000), --inflight at once (default 64);\n"
    "         loopback is exempt from limits.connect-rate by default.\n",
    stderr);
}

/// Parses `--key=value` flags; returns an error text or empty.
std::string parse(int argc, char** argv, options& o) {
  if (argc < 2) return "missing scenario";
  o.scenario = argv[1];
  if (o.scenario != "fanout" && o.scenario != "command" && o.scenario != "conns"
      && o.scenario != "connect-rate" && o.scenario != "soak")
    return "unknown scenario " + o.scenario;
  std::set<std::string> given;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--farm") {
      o.farm = true;
      continue;
    }
    auto eq = arg.find('=');
    if (arg.compare(0, 2, "--") != 0 || eq == std::string::npos)
      return "bad argument " + arg;
    auto key = arg.substr(2, eq - 2);
    auto val = arg.substr(eq + 1);
    given.insert(key);
    try {
      if (key == "server")
        o.server = val;
      else if (key == "server-log")
        o.server_log = val;
      else if (key == "server-arg")
        o.server_args.push_back(val);
      else if (key == "host")
        o.host = val;
      else if (key == "subs")
        o.subs = std::stoul(val);
      else if (key == "rate")
        o.rate = std::stod(val);
      else if (key == "duration")
        o.duration = std::stod(val);
      else if (key == "clients")
        o.clients = std::stoul(val);
      else if (key == "slow")
        o.slow = std::stoul(val);
      else if (key == "conns")
        o.conns = std::stoul(val);
      else if (key == "settle")
        o.settle = std::stod(val);
      else if (key == "inflight")
        o.inflight = std::stoul(val);
      else if (key == "connect-parallel")
        o.connect_parallel = std::stoul(val);
      else if (key == "command-rate")
        o.command_rate = std::stod(val);
      else if (key == "sample")
        o.sample = std::stod(val);
      else if (key == "warmup")
        o.warmup = std::stod(val);
      else if (key == "farm" && (val == "1" || val == "true"))
        o.farm = true;
      else if (key == "farm" && (val == "0" || val == "false"))
        o.farm = false;
      else if (key == "farm")
        return "bad value in " + arg + " (--farm, --farm=1 or --farm=0)";
      else
        return "unknown option --" + key;
    } catch (const std::exception&) {
      return "bad value in " + arg;
    }
  }
  if (o.host != "127.0.0.1" && o.host != "localhost")
    return "refusing non-loopback target " + o.host
           + ": scopebench only runs against 127.0.0.1";
  const bool soak = o.scenario == "soak";
  if (soak) {
    // The soak's own defaults: 1 event/s, 4 command clients, 60 s.
    if (!given.count("rate")) o.rate = 1;
    if (!given.count("clients")) o.clients = 4;
    if (!given.count("duration")) o.duration = 60;
  }
  // Bounded runs only: every scenario stops by itself.
  const double max_duration = soak ? 4 * 3600 : 120;
  if (!(o.duration > 0 && o.duration <= max_duration))
    return soak ? "--duration must be in (0, 14400] seconds for soak"
                : "--duration must be in (0, 120] seconds";
  if (soak && o.rate * o.duration > 2e6)
    return "--rate x --duration must be at most 2,000,000 events";
  if (!(o.command_rate > 0 && o.command_rate <= 1000))
    return "--command-rate must be in (0, 1000]";
  if (!(o.sample >= 1 && o.sample <= 600))
    return "--sample must be in [1, 600] seconds";
  if (!(o.warmup < 0 || o.warmup < o.duration))
    return "--warmup must be shorter than --duration";
  if (!(o.rate > 0 && o.rate <= 10000)) return "--rate must be in (0, 10000]";
  if (!(o.settle >= 0 && o.settle <= 60)) return "--settle must be in [0, 60]";
  if (o.subs < 1 || o.subs > 20000) return "--subs must be in [1, 20000]";
  if (o.conns < 1 || o.conns > 20000) return "--conns must be in [1, 20000]";
  if (o.slow > 1000) return "--slow must be in [0, 1000]";
  if (o.clients < 1 || o.clients > 1000)
    return "--clients must be in [1, 1000]";
  if (o.connect_parallel < 1) return "--connect-parallel must be >= 1";
  if (o.inflight < 1 || o.inflight > 20000)
    return "--inflight must be in [1, 20000]";
  if (soak) {
    // Room for every connection (the default cap is 10,000 sessions) and,
    // above 40 commands/s per client, for the rate limit (50/s default).
    // They go first, so a --server-arg given by the user wins.
    std::vector<std::string> pre{"--log.level=warn",
                                 "--limits.max-connections="
                                   + std::to_string(o.conns + o.clients + 64)};
    if (o.command_rate > 40) {
      auto q = static_cast<unsigned long>(o.command_rate);
      pre.push_back("--limits.message-rate=" + std::to_string(2 * q));
      pre.push_back("--limits.message-burst=" + std::to_string(4 * q));
    }
    o.server_args.insert(o.server_args.begin(), pre.begin(), pre.end());
  }
  return {};
}

/// Client sockets plus the server's: raise the descriptor limit to the
/// hard limit (the child inherits it).
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

} // namespace

int main(int argc, char** argv) {
  options o;
  if (argc >= 2
      && (std::strcmp(argv[1], "--help") == 0
          || std::strcmp(argv[1], "-h") == 0)) {
    usage();
    return 0;
  }
  if (auto err = parse(argc, argv, o); !err.empty()) {
    std::fprintf(stderr, "scopebench: %s\n", err.c_str());
    usage();
    return 2;
  }
  raise_fd_limit();
  std::string line;
  if (o.scenario == "fanout")
    line = scopebench::run_fanout(o);
  else if (o.scenario == "command")
    line = scopebench::run_command(o);
  else if (o.scenario == "soak")
    line = scopebench::run_soak(o);
  else if (o.scenario == "connect-rate")
    line = scopebench::run_connect_rate(o);
  else
    line = scopebench::run_conns(o);
  // Record the extra server flags with the result (reproducibility).
  std::string extra;
  for (auto& a : o.server_args)
    extra += (extra.empty() ? "" : " ") + a;
  scopebench::json_line tail;
  tail.add("farm", o.farm);
  // Whose RSS and CPU the server_* fields are (edge_* is the edge's).
  if (o.farm) tail.add("server_process", "gateway");
  tail.add("server_args", extra);
  line.pop_back(); // '}'
  line += "," + tail.str().substr(1);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return line.find("\"ok\":true") != std::string::npos ? 0 : 1;
}

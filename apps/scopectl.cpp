// scopectl: command-line client of a scopehub server, built on
// net/ws_client. Run `scopectl --help` (and `scopectl COMMAND --help`).
//
// The client runs on one Asio thread; main waits on its futures (and, for
// `watch`, on SIGINT/SIGTERM), prints, and exits with the code of the
// outcome's error class (see apps/scopectl/format.hpp and --help).

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <rapidjson/document.h>
#include <unistd.h>

#include "apps/scopectl/format.hpp"
#include "apps/scopectl/http.hpp"
#include "net/ws_client.hpp"
#include "protocol/actions.hpp"
#include "protocol/status.hpp"

namespace {

namespace asio = boost::asio;
namespace sc = scopehub::scopectl;
namespace net = scopehub::net;
namespace protocol = scopehub::protocol;
using namespace std::chrono_literals;

constexpr const char* usage_text
  = R"(usage: scopectl [--url URL] [--token T] [--json] COMMAND [ARGS]

Talks to a scopehub server over its WebSocket protocol.

options:
  --url URL     server, ws://host:port or wss://host:port
                (default ws://127.0.0.1:8000)
  --token T     bearer token (sent as Authorization: Bearer)
  --ca-file F   wss://: trust the CA certificates in this PEM file
  --json        print the raw protocol messages, one JSON object per line
  --help        this text; `scopectl COMMAND --help` for one command

commands:
  list                                  telescopes and their state
  status TELESCOPE [--category C]...    one snapshot of a telescope
  watch [TELESCOPE|--all] [--category C]...
                                        live updates until Ctrl-C
  cmd TELESCOPE ACTION [key=value]... [--timeout S]
                                        run one action
  health                                the server's health check

exit codes:
  0 success              5 invalid request (INVALID_PARAMETERS,
  1 failed (DEVICE_ERROR,  UNKNOWN_ACTION, INVALID_MESSAGE, ...)
    INTERNAL, other)     6 TELESCOPE_NOT_FOUND / TELESCOPE_UNAVAILABLE
  2 usage error          7 TELESCOPE_BUSY, CONTROL_HELD, RATE_LIMITED,
  3 cannot connect         OVERLOADED
  4 timeout (local or    8 UNAUTHORIZED, FORBIDDEN
    COMMAND_TIMEOUT)     9 COMMAND_CANCELLED, interrupted
)";

const std::map<std::string, std::string> command_help{
  {"list", R"(usage: scopectl [--json] list

Lists the telescopes the server knows: id, name, model, state, node and
device address. --json prints each telescope_discovered message.
)"},
  {"status", R"(usage: scopectl [--json] status TELESCOPE [--category C]...

Prints one snapshot of TELESCOPE (action get_status): every field of each
category (position, focus, imaging, system), with units. --category
limits it to the named categories. --json prints the command_response.
)"},
  {"watch",
   R"(usage: scopectl [--json] watch [TELESCOPE|--all] [--category C]...

Prints status updates as they come, until Ctrl-C: the changed fields of
each update, or every field of a snapshot. Without TELESCOPE (or with
--all) it watches every telescope. --category (all, position, focus,
imaging, system) may be repeated. Survives server restarts: connection
changes (reconnecting, open) go to stderr, and the subscription resumes
where it left off. --json prints status_update, telescope_discovered and
telescope_lost messages.
)"},
  {"cmd",
   R"(usage: scopectl [--json] cmd TELESCOPE ACTION [key=value]... [--timeout S]

Runs ACTION (goto, move, stop, park, focus, focus_increment, set_gain,
get_status, ...) on TELESCOPE with the given parameters. A value that
parses as JSON (numbers, true, false, arrays, objects) is sent as such,
anything else as a string: cmd seestar-001 goto ra=5.5 dec=22 target_name=M1.
Progress goes to stderr, the response to stdout. --timeout S (seconds)
bounds the wait; default 180 for long operations, 15 otherwise. The exit
code tells the error class (scopectl --help). --json prints the
command_progress and command_response messages.
)"},
  {"health", R"(usage: scopectl [--json] health

GET /api/ws/health of the server: status, uptime, connections and
telescopes. Exit 0 when the server says ok. --json prints the body.
)"},
};

struct cli {
  std::string url = "ws://127.0.0.1:8000";
  std::string token;
  std::string ca_file;
  bool json = false;
  bool help = false;
  bool all = false;
  std::string command;
  std::vector<std::string> args;
  std::vector<std::string> categories;
  std::optional<double> timeout_s;
};

/// Parses argv; returns an error text or "".
std::string parse(int argc, char** argv, cli& c) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& name, std::string& out) {
      if (a == name) {
        if (i + 1 >= argc) return false;
        out = argv[++i];
        return true;
      }
      out = a.substr(name.size() + 1);
      return true;
    };
    auto is = [&](const std::string& name) {
      return a == name || a.rfind(name + "=", 0) == 0;
    };
    if (a == "--help" || a == "-h") {
      c.help = true;
    } else if (a == "--json") {
      c.json = true;
    } else if (a == "--all") {
      c.all = true;
    } else if (is("--url")) {
      if (!value("--url", c.url)) return "--url needs a value";
    } else if (is("--ca-file")) {
      if (!value("--ca-file", c.ca_file)) return "--ca-file needs a value";
    } else if (is("--token")) {
      if (!value("--token", c.token)) return "--token needs a value";
    } else if (is("--category")) {
      std::string v;
      if (!value("--category", v)) return "--category needs a value";
      c.categories.push_back(v);
    } else if (is("--timeout")) {
      std::string v;
      if (!value("--timeout", v)) return "--timeout needs a value";
      try {
        c.timeout_s = std::stod(v);
      } catch (...) {
        return "--timeout needs a number of seconds";
      }
      if (*c.timeout_s <= 0) return "--timeout must be positive";
    } else if (a.size() > 1 && a[0] == '-' && a != "-") {
      return "unknown option " + a;
    } else if (c.command.empty()) {
      c.command = a;
    } else {
      c.args.push_back(a);
    }
  }
  return {};
}

/// type and payload.command_id (or ref_id) of a raw frame ("" when
/// absent).
std::pair<std::string, std::string> peek(std::string_view text) {
  rapidjson::Document d;
  d.Parse(text.data(), text.size());
  std::pair<std::string, std::string> out;
  if (d.HasParseError() || !d.IsObject()) return out;
  if (auto t = d.FindMember("type"); t != d.MemberEnd() && t->value.IsString())
    out.first = t->value.GetString();
  if (auto p = d.FindMember("payload");
      p != d.MemberEnd() && p->value.IsObject())
    for (auto key : {"command_id", "ref_id"})
      if (auto id = p->value.FindMember(key);
          id != p->value.MemberEnd() && id->value.IsString())
        out.second = id->value.GetString();
  return out;
}

/// The client, its Asio thread, and the end of both.
class session {
 public:
  session(const cli& c, bool forever) {
    net::ws_client_options o;
    o.url = c.url;
    o.token = c.token;
    o.ca_file = c.ca_file;
    o.id_prefix = "scopectl-" + std::to_string(::getpid()) + "-"
                  + std::to_string(std::random_device{}() % 100000);
    if (forever) {
      o.backoff_base = 500ms;
      o.backoff_cap = 5s;
    } else {
      o.max_attempts = 3;
      o.backoff_base = 200ms;
      o.backoff_cap = 1s;
      o.connect_timeout = 3s;
    }
    prefix = o.id_prefix;
    client.emplace(ioc, o);
  }

  void run() {
    client->start();
    thread = std::thread{[this] { ioc.run(); }};
  }

  ~session() {
    if (thread.joinable()) {
      client->close();
      // Let the close frame go out, then stop.
      std::this_thread::sleep_for(100ms);
      guard.reset();
      ioc.stop();
      thread.join();
    }
    client.reset();
  }

  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> guard
    = asio::make_work_guard(ioc);
  std::optional<net::ws_client> client;
  std::thread thread;
  std::string prefix;
  std::atomic<bool> ever_open{false};
};

void println(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

/// Waits until the server answered a round trip; false: cannot connect.
bool connected(session& s) {
  auto f = s.client->round_trip();
  if (f.wait_for(15s) != std::future_status::ready || !f.get()) {
    std::cerr << "scopectl: cannot connect to "
              << "the server\n";
    return false;
  }
  return true;
}

int do_list(const cli& c) {
  std::vector<std::string> raw; // filled on the io thread before round trip
  session s{c, false};
  if (c.json)
    s.client->on_raw([&raw](std::string_view text) {
      if (peek(text).first == "telescope_discovered") raw.emplace_back(text);
    });
  s.run();
  if (!connected(s)) return sc::exit_connect;
  if (c.json) {
    for (auto& r : raw)
      println(r);
    return sc::exit_ok;
  }
  auto fleet = s.client->telescopes().get();
  std::vector<std::vector<std::string>> rows{
    {"ID", "NAME", "MODEL", "STATE", "NODE", "DEVICE"}};
  for (auto& t : fleet)
    rows.push_back({t.id, t.name, t.model, t.state, t.node,
                    t.host + ':' + std::to_string(t.port)});
  std::cout << sc::aligned(rows) << std::flush;
  return sc::exit_ok;
}

/// Runs one command; prints progress and the response.
int run_command(const cli& c, const std::string& telescope,
                const std::string& action, const std::string& params,
                std::chrono::milliseconds timeout, bool print_result) {
  session s{c, false};
  s.client->on_state([&s](net::connection_state st) {
    if (st == net::connection_state::open) s.ever_open = true;
  });
  auto mine = s.prefix + "-c";
  if (c.json)
    s.client->on_raw([mine](std::string_view text) {
      auto [type, id] = peek(text);
      if ((type == "command_response" || type == "command_progress"
           || type == "error")
          && id.rfind(mine, 0) == 0)
        println(std::string{text});
    });
  s.run();
  auto progress = [&c](const protocol::command_progress& p) {
    if (c.json) return;
    std::string line = "  " + std::string{protocol::to_string(p.state)};
    rapidjson::Document d;
    if (!p.detail.empty() && !d.Parse(p.detail.c_str()).HasParseError()
        && d.IsObject())
      for (auto& m : d.GetObject()) {
        std::string k = m.name.GetString();
        line += ' ' + k + '=' + sc::with_unit(k, m.value);
      }
    std::cerr << line << std::endl;
  };
  auto pending
    = s.client->send_command(telescope, action, params, timeout, progress);
  auto r = pending.result.get(); // always resolves: deadline at the latest
  if (r.status == net::command_status::cancelled && !s.ever_open) {
    std::cerr << "scopectl: cannot connect (" << r.message << ")\n";
    return sc::exit_connect;
  }
  int rc = sc::exit_code_of(r);
  if (c.json) return rc;
  if (r.status == net::command_status::ok) {
    rapidjson::Document d;
    auto& text = r.response->result;
    if (print_result && !text.empty()
        && !d.Parse(text.c_str()).HasParseError()) {
      if (d.IsObject()) {
        bool nested = d.MemberCount() > 0;
        for (auto& m : d.GetObject())
          nested = nested && m.value.IsObject();
        if (nested) {
          for (auto& m : d.GetObject())
            std::cout << m.name.GetString() << '\n' << sc::field_lines(m.value);
        } else {
          std::cout << sc::field_lines(d);
        }
      } else {
        std::cout << sc::plain(d) << '\n';
      }
    } else if (!print_result) {
      std::cout << "ok";
      if (r.response->duration_ms)
        std::cout << " (" << *r.response->duration_ms << " ms)";
      std::cout << '\n';
      if (!text.empty() && !d.Parse(text.c_str()).HasParseError()) {
        if (d.IsObject())
          std::cout << sc::field_lines(d);
        else if (!d.IsNull())
          std::cout << "  " << sc::plain(d) << '\n';
      }
    }
    std::cout << std::flush;
    return rc;
  }
  if (r.response) {
    std::cerr << "error "
              << (r.response->code ? protocol::to_string(*r.response->code)
                                   : std::string_view{"?"})
              << ": " << r.response->error.value_or("") << '\n';
    if (!r.response->result.empty() && r.response->result != "null")
      std::cerr << "  result: " << r.response->result << '\n';
  } else {
    std::cerr << "error (" << net::to_string(r.status) << "): " << r.message
              << '\n';
  }
  return rc;
}

int do_status(const cli& c) {
  if (c.args.size() != 1) {
    std::cerr << command_help.at("status");
    return sc::exit_usage;
  }
  std::string params = "{}";
  if (!c.categories.empty()) {
    params = "{\"categories\":[";
    for (size_t i = 0; i < c.categories.size(); ++i) {
      if (!protocol::category_from_string(c.categories[i])) {
        std::cerr << "scopectl: unknown category " << c.categories[i] << '\n';
        return sc::exit_usage;
      }
      params += (i ? ",\"" : "\"") + c.categories[i] + '"';
    }
    params += "]}";
  }
  auto timeout
    = c.timeout_s
        ? std::chrono::milliseconds{static_cast<int64_t>(*c.timeout_s * 1000)}
        : std::chrono::milliseconds{15s};
  return run_command(c, c.args[0], "get_status", params, timeout, true);
}

int do_cmd(const cli& c) {
  if (c.args.size() < 2) {
    std::cerr << command_help.at("cmd");
    return sc::exit_usage;
  }
  rapidjson::Document params;
  params.SetObject();
  auto& alloc = params.GetAllocator();
  for (size_t i = 2; i < c.args.size(); ++i) {
    auto& kv = c.args[i];
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "scopectl: parameter \"" << kv << "\" is not key=value\n";
      return sc::exit_usage;
    }
    auto key = kv.substr(0, eq);
    auto text = kv.substr(eq + 1);
    rapidjson::Document v{&alloc};
    v.Parse(text.c_str());
    rapidjson::Value val;
    if (v.HasParseError())
      val.SetString(text.c_str(), static_cast<rapidjson::SizeType>(text.size()),
                    alloc);
    else
      val.CopyFrom(v, alloc);
    rapidjson::Value k;
    k.SetString(key.c_str(), static_cast<rapidjson::SizeType>(key.size()),
                alloc);
    params.AddMember(k, val, alloc);
  }
  auto act = protocol::action_from_string(c.args[1]);
  bool long_op = act && protocol::is_long_operation(*act);
  auto timeout
    = c.timeout_s
        ? std::chrono::milliseconds{static_cast<int64_t>(*c.timeout_s * 1000)}
      : long_op ? std::chrono::milliseconds{180s}
                : std::chrono::milliseconds{15s};
  return run_command(c, c.args[0], c.args[1], protocol::to_json(params),
                     timeout, false);
}

int do_watch(const cli& c) {
  if (c.args.size() > 1 || (c.all && !c.args.empty())) {
    std::cerr << command_help.at("watch");
    return sc::exit_usage;
  }
  // Signals are taken by sigwait below, in no other thread.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  session s{c, true};
  s.client->on_state([](net::connection_state st) {
    std::cerr << "-- " << net::to_string(st) << std::endl;
  });
  if (c.json) {
    s.client->on_raw([](std::string_view text) {
      auto type = peek(text).first;
      if (type == "status_update" || type == "telescope_discovered"
          || type == "telescope_lost")
        println(std::string{text});
    });
  } else {
    s.client->on_status([](const net::status_event& e) {
      auto now = std::time(nullptr);
      char when[16];
      std::strftime(when, sizeof(when), "%H:%M:%S", std::localtime(&now));
      std::string line = std::string{when} + "  " + e.telescope + "  "
                         + std::string{protocol::to_string(e.update.category)}
                         + "  #" + std::to_string(e.update.seq)
                         + (e.update.full_update ? "  snapshot" : "");
      rapidjson::Document d;
      d.Parse(e.update.status.c_str());
      if (!d.HasParseError() && d.IsObject())
        for (auto& m : d.GetObject()) {
          std::string k = m.name.GetString();
          line += "  " + k + '=' + sc::with_unit(k, m.value);
        }
      println(line);
    });
  }
  auto categories
    = c.categories.empty() ? std::vector<std::string>{"all"} : c.categories;
  s.client->subscribe(c.args.empty() ? std::string{} : c.args[0], categories);
  s.run();
  int sig = 0;
  sigwait(&sigs, &sig);
  return sc::exit_ok;
}

int do_health(const cli& c) {
  std::string error;
  auto res = sc::http_get(c.url, "/api/ws/health", c.ca_file, 5s, error);
  if (!res) {
    std::cerr << "scopectl: health: " << error << '\n';
    return sc::exit_connect;
  }
  auto body = res->body;
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
    body.pop_back();
  rapidjson::Document d;
  d.Parse(body.c_str());
  bool ok = res->status == 200 && !d.HasParseError() && d.IsObject()
            && d.HasMember("status") && d["status"] == "ok";
  if (c.json) {
    println(body);
    return ok ? sc::exit_ok : sc::exit_failed;
  }
  if (d.HasParseError() || !d.IsObject()) {
    std::cerr << "scopectl: health: HTTP " << res->status << ": " << body
              << '\n';
    return sc::exit_failed;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& m : d.GetObject()) {
    std::string k = m.name.GetString();
    std::string v = sc::plain(m.value);
    if (k == "uptime_s") v += " s";
    if (k == "telescopes" && m.value.IsObject() && m.value.HasMember("total")
        && m.value.HasMember("online"))
      v = sc::plain(m.value["online"]) + " of " + sc::plain(m.value["total"])
          + " online";
    rows.push_back({k, v});
  }
  std::cout << sc::aligned(rows) << std::flush;
  return ok ? sc::exit_ok : sc::exit_failed;
}

} // namespace

int main(int argc, char** argv) {
  cli c;
  if (auto err = parse(argc, argv, c); !err.empty()) {
    std::cerr << "scopectl: " << err << "\n\n" << usage_text;
    return sc::exit_usage;
  }
  if (c.command.empty()) {
    std::cout << usage_text;
    return c.help ? sc::exit_ok : sc::exit_usage;
  }
  auto h = command_help.find(c.command);
  if (h == command_help.end()) {
    std::cerr << "scopectl: unknown command " << c.command << "\n\n"
              << usage_text;
    return sc::exit_usage;
  }
  if (c.help) {
    std::cout << h->second;
    return sc::exit_ok;
  }
  if (c.command == "list")
    return c.args.empty() ? do_list(c)
                          : (std::cerr << h->second, sc::exit_usage);
  if (c.command == "status") return do_status(c);
  if (c.command == "watch") return do_watch(c);
  if (c.command == "cmd") return do_cmd(c);
  return c.args.empty() ? do_health(c)
                        : (std::cerr << h->second, sc::exit_usage);
}

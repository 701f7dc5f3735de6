#include "sim/simulator.hpp"

#include <cstdio>
#include <functional>
#include <random>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "sim/discovery.hpp"
#include "sim/rpc_server.hpp"

namespace scopehub::sim {

namespace {

std::string derived_serial(const std::string& name) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "SIM%08zX",
                std::hash<std::string>{}(name)&0xffffffffu);
  return buf;
}

} // namespace

simulator::simulator(boost::asio::io_context& io, options opts)
  : opts_(std::move(opts)), io_(io) {
  if (opts_.seed == 0) opts_.seed = std::random_device{}();
  if (opts_.serial.empty()) opts_.serial = derived_serial(opts_.name);
  device_config dev;
  dev.name = opts_.name;
  dev.serial = opts_.serial;
  dev.model = opts_.model;
  dev.firmware_int = opts_.firmware_int;
  dev.latitude = opts_.latitude;
  dev.longitude = opts_.longitude;
  dev.battery_drain_pct_per_min = opts_.battery_drain_pct_per_min;
  dev.seed = opts_.seed;
  rpc_config rc;
  rc.bind = opts_.bind;
  rc.port = opts_.port;
  rc.time_scale = opts_.time_scale;
  rc.seed = opts_.seed + 1;
  rpc_ = std::make_shared<rpc_server>(io, rc, dev, opts_.faults);
}

simulator::~simulator() { stop(); }

void simulator::start() {
  rpc_->start();
  if (!opts_.discovery_port) return;
  // The reply of §5 plus "port" (our TCP port, which may be ephemeral)
  // and "name": additions a real Seestar does not send.
  std::weak_ptr<rpc_server> w = rpc_;
  auto reply = [w, o = opts_](const rapidjson::Value& id) {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> wr{sb};
    auto rpc = w.lock();
    wr.StartObject();
    wr.Key("jsonrpc");
    wr.String("2.0");
    wr.Key("Timestamp");
    wr.String(timestamp_text(rpc ? rpc->device_now() : 0.0));
    wr.Key("method");
    wr.String("scan_iscope");
    wr.Key("result");
    wr.StartObject();
    wr.Key("product_model");
    wr.String(o.model);
    wr.Key("sn");
    wr.String(o.serial);
    wr.Key("ssid");
    wr.String("S50_"
              + o.serial.substr(o.serial.size() > 8 ? o.serial.size() - 8 : 0));
    wr.Key("ip");
    wr.String(o.bind);
    wr.Key("is_verified");
    wr.Bool(true);
    wr.Key("tcp_client_num");
    wr.Uint64(rpc ? rpc->client_count() : 0);
    wr.Key("can_star_mode_sel_cam");
    wr.Bool(false);
    wr.Key("serc");
    wr.String("WPA-PSK");
    wr.Key("port");
    wr.Uint(rpc ? rpc->port() : 0);
    wr.Key("name");
    wr.String(o.name);
    wr.EndObject();
    wr.Key("code");
    wr.Int(0);
    wr.Key("id");
    id.Accept(wr);
    wr.EndObject();
    return std::string{sb.GetString(), sb.GetSize()} + "\r\n";
  };
  disco_ = std::make_shared<discovery>(io_, opts_.bind, *opts_.discovery_port,
                                       std::move(reply));
  try {
    disco_->start();
  } catch (...) {
    rpc_->stop();
    throw;
  }
}

void simulator::stop() {
  if (disco_) disco_->stop();
  rpc_->stop();
}

uint16_t simulator::port() const { return rpc_->port(); }

std::optional<uint16_t> simulator::discovery_port() const {
  if (!disco_) return std::nullopt;
  return disco_->port();
}

void simulator::set_faults(fault_plan plan) {
  rpc_->set_faults(std::move(plan));
}

fault_plan simulator::faults() const { return rpc_->faults(); }

size_t simulator::client_count() const { return rpc_->client_count(); }

} // namespace scopehub::sim

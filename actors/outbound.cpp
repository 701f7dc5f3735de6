#include "actors/outbound.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "actors/metrics.hpp"
#include "protocol/builders.hpp"
#include "protocol/json_scratch.hpp"
#include "protocol/status.hpp"

namespace scopehub {

namespace {

std::string str(const rapidjson::Value& v) {
  return v.IsString() ? std::string{v.GetString(), v.GetStringLength()}
                      : std::string{};
}

const rapidjson::Value* member(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return nullptr;
  auto i = obj.FindMember(name);
  return i == obj.MemberEnd() ? nullptr : &i->value;
}

} // namespace

outbound::outbound(std::weak_ptr<net::ws_pipe> pipe, size_t soft_limit)
  : pipe_(std::move(pipe)), soft_limit_(soft_limit) {
  // nop
}

void outbound::send(std::shared_ptr<const std::string> frame) {
  write(std::move(frame));
}

void outbound::send_status(std::shared_ptr<const std::string> frame) {
  // A topic that has a held frame merges into it whatever the backlog,
  // so its updates never overtake each other.
  bool over = soft_limit_ > 0 && backlog_ > soft_limit_;
  if ((over || !held_.empty()) && hold(frame)) return;
  write(std::move(frame));
}

void outbound::drained(uint64_t bytes) {
  bytes = std::min(bytes, backlog_);
  backlog_ -= bytes;
  metrics::add_backlog(-static_cast<int64_t>(bytes), 0);
  if (!held_.empty() && backlog_ <= soft_limit_ / 2) flush();
}

void outbound::forget(const std::string& telescope,
                      const std::string& category) {
  auto key = key_of(telescope, category);
  if (held_.erase(key) > 0)
    order_.erase(std::find(order_.begin(), order_.end(), key));
}

void outbound::write(std::shared_ptr<const std::string> frame) {
  auto pipe = pipe_.lock();
  if (!pipe) return;
  backlog_ += frame->size();
  backlog_max_ = std::max(backlog_max_, backlog_);
  metrics::add_backlog(static_cast<int64_t>(frame->size()),
                       static_cast<int64_t>(backlog_));
  pipe->send(std::move(frame));
}

void outbound::flush() {
  auto keys = std::move(order_);
  order_.clear();
  for (const auto& key : keys) {
    auto i = held_.find(key);
    if (i == held_.end()) continue;
    conflated_total_ += i->second.count - 1;
    auto frame = build(i->second);
    held_.erase(i);
    write(std::move(frame));
  }
}

std::string outbound::key_of(const std::string& telescope,
                             const std::string& category) {
  return telescope + '\n' + category;
}

bool outbound::hold(const std::shared_ptr<const std::string>& frame) {
  protocol::scratch_document<> doc;
  doc.Parse(frame->data(), frame->size());
  const auto* payload = member(doc, "payload");
  const auto* type = member(doc, "type");
  if (doc.HasParseError() || !type || str(*type) != "status_update" || !payload)
    return false;
  const auto* status = member(*payload, "status");
  const auto* seq = member(*payload, "seq");
  const auto* changes = member(*payload, "changes");
  if (!status || !status->IsObject() || !seq || !seq->IsUint64() || !changes
      || !changes->IsArray())
    return false;
  const auto* tel = member(doc, "telescope_id");
  const auto* cat = member(*payload, "category");
  std::string telescope = tel ? str(*tel) : std::string{};
  std::string category = cat ? str(*cat) : std::string{};
  const auto* epoch_v = member(*payload, "epoch");
  std::string epoch = epoch_v ? str(*epoch_v) : std::string{};
  const auto* full_v = member(*payload, "full_update");
  bool full = full_v && full_v->IsBool() && full_v->GetBool();
  const auto* merged_v = member(*payload, "conflated");
  uint32_t merged = merged_v && merged_v->IsUint() ? merged_v->GetUint() : 0;
  auto key = key_of(telescope, category);
  auto [i, fresh] = held_.try_emplace(key);
  auto& p = i->second;
  ++held_total_;
  if (fresh) {
    order_.push_back(key);
    p.telescope_id = telescope;
    p.category = category;
    p.fields.SetObject();
  } else if (full || p.epoch != epoch) {
    // A full update supersedes everything held; a new epoch (the topic
    // was re-created) starts over from the frame that opens it, and what
    // was held of the old one is dropped.
    if (p.epoch != epoch) {
      dropped_total_ += p.count;
      p.count = 0;
    }
    p.fields.SetObject();
    p.changes.clear();
    p.full = false;
  }
  p.original = p.count == 0 ? frame : nullptr;
  p.count += std::max<uint32_t>(1, merged);
  const auto* id = member(doc, "id");
  p.id = id ? str(*id) : std::string{};
  const auto* ts = member(doc, "timestamp");
  p.timestamp = ts && ts->IsInt64() ? ts->GetInt64() : 0;
  p.seq = seq->GetUint64();
  p.epoch = std::move(epoch);
  p.full = p.full || full;
  auto& alloc = p.fields.GetAllocator();
  for (auto& m : status->GetObject()) {
    auto f = p.fields.FindMember(m.name);
    if (f != p.fields.MemberEnd())
      f->value.CopyFrom(m.value, alloc);
    else
      p.fields.AddMember(rapidjson::Value{m.name, alloc},
                         rapidjson::Value{m.value, alloc}, alloc);
  }
  for (const auto& c : changes->GetArray()) {
    auto name = str(c);
    if (std::find(p.changes.begin(), p.changes.end(), name) == p.changes.end())
      p.changes.push_back(std::move(name));
  }
  return true;
}

std::shared_ptr<const std::string> outbound::build(pending& p) {
  if (p.original) return std::move(p.original);
  auto cat = protocol::category_from_string(p.category);
  if (!cat) {
    spdlog::error("outbound: held a status of unknown category {}", p.category);
    cat = protocol::category::system;
  }
  protocol::stamp stamp{p.id, p.timestamp, p.telescope_id};
  return std::make_shared<const std::string>(
    protocol::make_status_update(stamp, *cat, p.seq, p.epoch, p.fields,
                                 p.changes, p.full, p.count > 1 ? p.count : 0));
}

} // namespace scopehub

#include "protocol/seestar.hpp"

#include <cstring>

#include <rapidjson/error/en.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "protocol/json_read.hpp"

namespace scopehub::protocol::seestar {

// -- framing ------------------------------------------------------------------

line_framer::line_framer(size_t max_line) : max_line_(max_line) {
  // nop
}

void line_framer::feed(const uint8_t* data, size_t n,
                       const std::function<void(std::string_view)>& on_line,
                       const std::function<void(size_t)>& on_overflow) {
  auto overflow = [&](size_t dropped) {
    if (on_overflow) on_overflow(dropped);
  };
  // Emits one complete line (without "\n"), stripping a trailing "\r".
  auto emit = [&](std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > max_line_) {
      overflow(line.size());
      return;
    }
    if (!line.empty()) on_line(line);
  };
  auto p = reinterpret_cast<const char*>(data);
  auto end = p + n;
  while (p < end) {
    auto nl = static_cast<const char*>(
      std::memchr(p, '\n', static_cast<size_t>(end - p)));
    if (discarding_) {
      // Skip the rest of an overlong line, already reported.
      if (nl == nullptr) return;
      discarding_ = false;
      p = nl + 1;
      continue;
    }
    if (nl == nullptr) {
      // Partial line: keep it unless it is already too long (one byte of
      // slack for a "\r" that may precede the coming "\n").
      auto len = static_cast<size_t>(end - p);
      if (buf_.size() + len > max_line_ + 1) {
        overflow(buf_.size() + len);
        buf_.clear();
        discarding_ = true;
        return;
      }
      buf_.append(p, len);
      return;
    }
    auto len = static_cast<size_t>(nl - p);
    if (buf_.empty()) {
      emit(std::string_view{p, len}); // fast path: no copy
    } else {
      buf_.append(p, len);
      std::string line;
      line.swap(buf_);
      emit(line);
    }
    p = nl + 1;
  }
}

size_t line_framer::buffered() const noexcept { return buf_.size(); }

void line_framer::reset() noexcept {
  buf_.clear();
  discarding_ = false;
}

// -- requests -----------------------------------------------------------------

std::string make_request(int64_t id, std::string_view method,
                         std::string_view params_json) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w{sb};
  w.StartObject();
  w.Key("id");
  w.Int64(id);
  w.Key("method");
  w.String(method.data(), static_cast<rapidjson::SizeType>(method.size()));
  if (!params_json.empty()) {
    w.Key("params");
    w.RawValue(params_json.data(), params_json.size(), rapidjson::kObjectType);
  }
  w.EndObject();
  std::string out{sb.GetString(), sb.GetSize()};
  out += "\r\n";
  return out;
}

// -- parsing ------------------------------------------------------------------

parsed_line parse_line(const uint8_t* data, size_t n) {
  return parse_line(std::string_view{reinterpret_cast<const char*>(data), n});
}

parsed_line parse_line(std::string_view line) {
  parsed_line out;
  if (json_nesting_depth(reinterpret_cast<const uint8_t*>(line.data()),
                         line.size(), max_line_depth)
      > max_line_depth) {
    out.problem
      = "nested deeper than " + std::to_string(max_line_depth) + " levels";
    return out;
  }
  rapidjson::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError()) {
    out.problem = "not JSON: ";
    out.problem += rapidjson::GetParseError_En(doc.GetParseError());
    out.problem += " at offset " + std::to_string(doc.GetErrorOffset());
    return out;
  }
  if (!doc.IsObject()) {
    out.problem = "not a JSON object";
    return out;
  }
  if (auto it = doc.FindMember("Event"); it != doc.MemberEnd()) {
    if (!it->value.IsString()) {
      out.problem = "\"Event\" is not a string";
      return out;
    }
    out.kind = line_kind::event;
    out.ev.name = it->value.GetString();
    out.ev.body.Swap(doc);
    return out;
  }
  auto id = doc.FindMember("id");
  if (id == doc.MemberEnd()
      || (!doc.HasMember("jsonrpc") && !doc.HasMember("code"))) {
    out.problem = "neither an event nor a response";
    return out;
  }
  if (!id->value.IsInt64()) {
    out.problem = "response \"id\" is not an integer";
    return out;
  }
  auto& r = out.resp;
  r.id = id->value.GetInt64();
  if (auto it = doc.FindMember("method");
      it != doc.MemberEnd() && it->value.IsString())
    r.method = it->value.GetString();
  if (auto it = doc.FindMember("code"); it != doc.MemberEnd()) {
    if (!it->value.IsInt()) {
      out.problem = "response \"code\" is not an integer";
      return out;
    }
    r.code = it->value.GetInt();
  }
  if (auto it = doc.FindMember("error"); it != doc.MemberEnd()) {
    if (it->value.IsString())
      r.error = it->value.GetString();
    else if (r.code == 0)
      r.code = -1; // an error member without a code still is an error
  }
  if (r.code != 0 && r.error.empty()) r.error = device_error_text(r.code);
  if (auto it = doc.FindMember("result"); it != doc.MemberEnd())
    r.result.CopyFrom(it->value, r.result.GetAllocator());
  out.kind = line_kind::response;
  return out;
}

// -- status mapping -----------------------------------------------------------

namespace {

using value = rapidjson::Value;

/// Builds the fields object of one delta.
class delta_builder {
 public:
  explicit delta_builder(category cat) : cat_(cat) { doc_.SetObject(); }

  void set(const char* key, const value& v) {
    value copy{v, doc_.GetAllocator()};
    put(key, copy);
  }

  void set(const char* key, bool v) {
    value x{v};
    put(key, x);
  }

  void set(const char* key, double v) {
    value x{v};
    put(key, x);
  }

  void set(const char* key, std::string_view v) {
    value x{v.data(), static_cast<rapidjson::SizeType>(v.size()),
            doc_.GetAllocator()};
    put(key, x);
  }

  bool empty() const { return doc_.MemberCount() == 0; }

  void flush_into(std::vector<status_delta>& out) {
    if (empty()) return;
    status_delta d{cat_, rapidjson::Document{}};
    d.fields.Swap(doc_);
    out.push_back(std::move(d));
    doc_.SetObject();
  }

 private:
  void put(const char* key, value& v) {
    if (auto it = doc_.FindMember(key); it != doc_.MemberEnd()) {
      it->value = v;
      return;
    }
    doc_.AddMember(value{key, doc_.GetAllocator()}, v, doc_.GetAllocator());
  }

  category cat_;
  rapidjson::Document doc_;
};

const value* member(const value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string_view str_member(const value& obj, const char* key) {
  auto v = member(obj, key);
  if (v == nullptr || !v->IsString()) return {};
  return {v->GetString(), v->GetStringLength()};
}

/// Copies `obj[key]` to `b[field]` when it is a number.
void copy_number(const value& obj, const char* key, delta_builder& b,
                 const char* field) {
  if (auto v = member(obj, key); v != nullptr && v->IsNumber())
    b.set(field, *v);
}

void copy_string(const value& obj, const char* key, delta_builder& b,
                 const char* field) {
  if (auto v = member(obj, key); v != nullptr && v->IsString())
    b.set(field, *v);
}

void copy_bool(const value& obj, const char* key, delta_builder& b,
               const char* field) {
  if (auto v = member(obj, key); v != nullptr && v->IsBool()) b.set(field, *v);
}

bool is_terminal(std::string_view state) {
  return state == "complete" || state == "fail" || state == "cancel";
}

/// [ra, dec] from a two-number array member.
void copy_ra_dec(const value& obj, const char* key, delta_builder& b) {
  auto v = member(obj, key);
  if (v == nullptr || !v->IsArray() || v->Size() != 2 || !(*v)[0].IsNumber()
      || !(*v)[1].IsNumber())
    return;
  b.set("ra", (*v)[0]);
  b.set("dec", (*v)[1]);
}

/// Lifecycle state to a "moving" flag: working -> true, terminal -> false.
void copy_moving(std::string_view state, delta_builder& b, const char* field) {
  if (state == "working")
    b.set(field, true);
  else if (is_terminal(state))
    b.set(field, false);
}

/// The imaging view_state for a View event, or empty to leave it alone.
std::string_view view_state_of(const value& body) {
  auto state = str_member(body, "state");
  auto mode = str_member(body, "mode");
  if (state == "cancel" || state == "fail" || mode == "none") return "idle";
  if (mode == "star" || mode == "scenery" || mode == "sun" || mode == "moon")
    return mode;
  if (mode == "solar_sys") {
    // A live solar view names its target in target_type ("sun"/"moon").
    auto t = str_member(body, "target_type");
    auto name = str_member(body, "target_name");
    if (t == "moon" || name == "Moon" || name == "moon") return "moon";
    return "sun";
  }
  if (mode == "planet")
    return "star"; // a night-sky view; the protocol has no planet state
  return {};
}

/// Exposures taken for plate solving during a goto are not the user's
/// exposure setting.
bool is_autogoto_exposure(const value& body) {
  if (str_member(body, "tag").find("AutoGoto") != std::string_view::npos)
    return true;
  if (auto r = member(body, "route"); r != nullptr && r->IsArray())
    for (auto& x : r->GetArray())
      if (x.IsString() && std::string_view{x.GetString()} == "AutoGoto")
        return true;
  return false;
}

} // namespace

std::vector<status_delta> map_event(const event& ev) {
  std::vector<status_delta> out;
  const auto& body = ev.body;
  if (!body.IsObject()) return out;
  auto state = str_member(body, "state");
  const auto& name = ev.name;
  if (name == "PiStatus") {
    delta_builder b{category::system};
    copy_number(body, "battery_capacity", b, "battery_capacity");
    copy_string(body, "charger_status", b, "charger_status");
    copy_number(body, "temp", b, "temp");
    b.flush_into(out);
  } else if (name == "ScopeGoto") {
    delta_builder b{category::position};
    copy_ra_dec(body, "cur_ra_dec", b);
    copy_moving(state, b, "slewing");
    // A slewing mount has its arm open: the device sends no ScopeHome
    // for that, so a goto from the parked pose would leave parked=true.
    if (state == "working") b.set("parked", false);
    b.flush_into(out);
  } else if (name == "ScopeTrack") {
    delta_builder b{category::position};
    copy_bool(body, "tracking", b, "tracking");
    if (b.empty() && (state == "on" || state == "off"))
      b.set("tracking", state == "on");
    b.flush_into(out);
  } else if (name == "ScopeHome" || name == "ScopeMoveToHorizon") {
    delta_builder b{category::position};
    copy_bool(body, "close", b, "parked");
    copy_moving(state, b, "slewing");
    b.flush_into(out);
  } else if (name == "FocuserMove") {
    delta_builder b{category::focus};
    copy_number(body, "position", b, "focus_position");
    copy_moving(state, b, "focuser_moving");
    b.flush_into(out);
  } else if (name == "View") {
    delta_builder b{category::imaging};
    if (auto vs = view_state_of(body); !vs.empty()) b.set("view_state", vs);
    if (state != "cancel") copy_string(body, "target_name", b, "target_name");
    b.flush_into(out);
  } else if (name == "Stack") {
    delta_builder b{category::imaging};
    copy_number(body, "stacked_frame", b, "stacked_frames");
    copy_number(body, "dropped_frame", b, "dropped_frames");
    if (state == "working" || state == "start" || state == "frame_complete")
      b.set("view_state", std::string_view{"stacking"});
    else if (is_terminal(state))
      b.set("view_state", std::string_view{"star"}); // back to live view
    b.flush_into(out);
  } else if (name == "Exposure") {
    if (!is_autogoto_exposure(body)) {
      delta_builder b{category::imaging};
      copy_number(body, "exp_ms", b, "exposure_ms");
      b.flush_into(out);
    }
  }
  return out;
}

namespace {

/// Free MB of the current storage volume: `storage.freeMB`/`free_mb`
/// directly, or in the `storage_volume` entry named by `cur_storage`.
const value* free_storage_mb(const value& storage) {
  for (auto key : {"freeMB", "free_mb"})
    if (auto v = member(storage, key); v != nullptr && v->IsNumber()) return v;
  auto vols = member(storage, "storage_volume");
  if (vols == nullptr || !vols->IsArray()) return nullptr;
  auto cur = str_member(storage, "cur_storage");
  const value* first = nullptr;
  for (auto& vol : vols->GetArray()) {
    for (auto key : {"freeMB", "free_mb"}) {
      auto v = member(vol, key);
      if (v == nullptr || !v->IsNumber()) continue;
      if (cur.empty() || str_member(vol, "name") == cur) return v;
      if (first == nullptr) first = v;
    }
  }
  return first;
}

} // namespace

std::vector<status_delta> map_device_state(const rapidjson::Value& result) {
  std::vector<status_delta> out;
  if (!result.IsObject()) return out;
  if (auto mount = member(result, "mount"); mount && mount->IsObject()) {
    delta_builder b{category::position};
    copy_bool(*mount, "close", b, "parked");
    copy_bool(*mount, "tracking", b, "tracking");
    b.flush_into(out);
  }
  if (auto foc = member(result, "focuser"); foc && foc->IsObject()) {
    delta_builder b{category::focus};
    copy_number(*foc, "step", b, "focus_position");
    b.flush_into(out);
  }
  if (auto set = member(result, "setting"); set && set->IsObject()) {
    delta_builder b{category::imaging};
    if (auto exp = member(*set, "exp_ms"); exp && exp->IsObject())
      copy_number(*exp, "stack_l", b, "exposure_ms");
    copy_number(*set, "gain", b, "gain");
    b.flush_into(out);
  }
  delta_builder sys{category::system};
  if (auto pi = member(result, "pi_status"); pi && pi->IsObject()) {
    copy_number(*pi, "battery_capacity", sys, "battery_capacity");
    copy_string(*pi, "charger_status", sys, "charger_status");
    copy_number(*pi, "temp", sys, "temp");
  }
  if (auto dev = member(result, "device"); dev && dev->IsObject()) {
    copy_string(*dev, "firmware_ver_string", sys, "firmware");
    copy_string(*dev, "product_model", sys, "model");
  }
  if (auto st = member(result, "storage"); st && st->IsObject())
    if (auto free = free_storage_mb(*st)) sys.set("free_storage_mb", *free);
  sys.flush_into(out);
  return out;
}

// -- errors -------------------------------------------------------------------

namespace {

struct device_code_row {
  int code;
  std::string_view text;
};

// Device codes seen in the field (seestar-protocol.md §2.3).
constexpr device_code_row device_codes[] = {
  {103, "method not found"},
  {107, "expected object param"},
  {108, "expected float param"},
  {109, "unexpected param"},
  {203, "equipment is moving"},
  {207, "fail to operate"},
  {215, "no solve data"},
  {251, "solve failed"},
  {253, "aborted"},
  {263, "stack error, too few stars"},
  {264, "stack error, transform failed"},
  {270, "below horizon"},
  {279, "no star is detected"},
  {501, "mount goto failed"},
  {502, "mount sync failed"},
  {514, "interrupt"},
  {530, "star trails"},
};

} // namespace

std::string device_error_text(int code) {
  for (auto& row : device_codes)
    if (row.code == code) return std::string{row.text};
  return "device error " + std::to_string(code);
}

error_code to_protocol_error(int device_code) noexcept {
  switch (device_code) {
    case 203: return error_code::telescope_busy;
    case 103:
    case 107:
    case 108:
    case 109: return error_code::internal;
    case 270: return error_code::invalid_parameters;
    default: return error_code::device_error;
  }
}

} // namespace scopehub::protocol::seestar

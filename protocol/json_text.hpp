#pragma once

// Small helper for building compact JSON text with RapidJSON's Writer.

#include <string>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace scopehub::protocol {

/// Returns the JSON text that `fill` writes into a rapidjson::Writer, e.g.
/// `json_text([](auto& w) { w.StartObject(); w.EndObject(); })` is "{}".
template<class F>
std::string json_text(F fill) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  fill(w);
  return {buf.GetString(), buf.GetSize()};
}

} // namespace scopehub::protocol

#pragma once

// A RapidJSON document for short-lived work (one client frame, its
// parameters, one status delta) whose first few KiB live inside the object.
//
// Why: a plain rapidjson::Document takes its first memory as one 64 KiB
// chunk from the heap. glibc serves a block that big outside its small-bin
// caches and consolidates its free lists when it is freed, so every parsed
// frame paid a slow malloc/free pair. A scratch document on the stack needs
// no heap at all for messages of ordinary size, and takes 8 KiB chunks (not
// 64 KiB) beyond that. (Device lines are not parsed into one: an event's
// body is swapped into a long-lived Document, which must own its memory.)
//
// The document points into itself: it can be neither copied nor moved.
// Values may be copied out of it as usual.

#include <cstddef>

#include <rapidjson/document.h>

namespace scopehub::protocol {

namespace detail {

template<size_t Bytes>
struct scratch_pool {
  static constexpr size_t overflow_chunk = 8 * 1024;
  alignas(8) char buffer[Bytes];
  rapidjson::MemoryPoolAllocator<> pool{buffer, sizeof buffer, overflow_chunk};
};

} // namespace detail

template<size_t Bytes = 2048>
class scratch_document : private detail::scratch_pool<Bytes>,
                         public rapidjson::Document {
 public:
  explicit scratch_document(rapidjson::Type type = rapidjson::kNullType)
    : rapidjson::Document{type, &this->pool, stack_bytes} {}

  scratch_document(const scratch_document&) = delete;
  scratch_document& operator=(const scratch_document&) = delete;

 private:
  // The parser's own stack (CrtAllocator) grows on demand from this.
  static constexpr size_t stack_bytes = 512;
};

} // namespace scopehub::protocol

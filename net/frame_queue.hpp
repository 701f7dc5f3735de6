#pragma once

// net/frame_queue: the write queue of a WebSocket pipe (net/ws_pipe.cpp),
// in a header of its own so that its storage rules are unit-tested.

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace scopehub::net {

/// The write queue of a pipe: a vector read from `head_`. std::deque
/// allocates a 512-byte block up front, which every idle connection would
/// carry; this holds nothing while empty and keeps its storage while a
/// backlog moves.
class frame_queue {
 public:
  using frame = std::shared_ptr<const std::string>;

  bool empty() const noexcept { return head_ == items_.size(); }

  size_t size() const noexcept { return items_.size() - head_; }

  const frame& front() const noexcept { return items_[head_]; }

  void push_back(frame f) { items_.push_back(std::move(f)); }

  /// Frames the storage has room for (for tests).
  size_t capacity() const noexcept { return items_.capacity(); }

  void pop_front() {
    items_[head_++].reset();
    if (empty())
      clear_storage();
    else if (head_ >= 64 && head_ * 2 >= items_.size())
      compact(); // a backlog that never empties must not grow the vector
  }

  /// Drops every frame after the first `n`.
  void truncate(size_t n) {
    items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(head_ + n),
                 items_.end());
    if (empty()) clear_storage();
  }

 private:
  void compact() {
    items_.erase(items_.begin(),
                 items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }

  void clear_storage() {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > 64) items_.shrink_to_fit();
  }

  std::vector<frame> items_;
  size_t head_ = 0;
};

} // namespace scopehub::net

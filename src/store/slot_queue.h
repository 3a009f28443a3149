#pragma once
// SlotQueue: the deque the stores index messages with, in chunks of 4096
// elements (std::deque's 512-byte chunks cost a malloc every ten messages,
// which dominated restart time). Random access, push at the back, pop at
// either end. Popped elements are reset to T{} only when their chunk is
// freed or reused, so callers clear anything large before popping.
#include <cstddef>
#include <deque>
#include <memory>

namespace fjord::store {

template <typename T>
class SlotQueue {
 public:
  static constexpr size_t kChunk = 4096;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return At(i); }
  const T& operator[](size_t i) const { return const_cast<SlotQueue*>(this)->At(i); }
  T& front() { return At(0); }
  const T& front() const { return (*this)[0]; }
  T& back() { return At(size_ - 1); }

  T& emplace_back() {
    size_t pos = head_ + size_;
    if (pos == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<T[]>(kChunk));
    ++size_;
    T& t = At(size_ - 1);
    t = T{};
    return t;
  }

  void pop_front() {
    --size_;
    if (++head_ == kChunk) {
      chunks_.pop_front();
      head_ = 0;
    }
    // Empty again: start over at the front of the chunk still held, so a
    // queue that keeps emptying does not allocate a chunk per element.
    if (size_ == 0) head_ = 0;
  }

  // A truncated stream: chunks left wholly unused are freed.
  void pop_back() {
    --size_;
    while (chunks_.size() > 1 && head_ + size_ <= (chunks_.size() - 1) * kChunk) chunks_.pop_back();
    if (size_ == 0) head_ = 0;
  }

  void clear() {
    chunks_.clear();
    head_ = size_ = 0;
  }

 private:
  T& At(size_t i) {
    size_t pos = head_ + i;
    return chunks_[pos / kChunk][pos % kChunk];
  }

  std::deque<std::unique_ptr<T[]>> chunks_;
  size_t head_ = 0;  // index of the front element in chunks_.front()
  size_t size_ = 0;
};

}  // namespace fjord::store

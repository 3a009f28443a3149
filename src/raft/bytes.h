#pragma once
// Copies between byte strings and NuRaft's buffers, for the codec, the
// group's files and the tests.
#include <cstring>
#include <string>
#include <string_view>

#include <libnuraft/buffer.hxx>

namespace fjord::raft {

// A new buffer holding `s`, positioned at its start.
inline nuraft::ptr<nuraft::buffer> ToBuffer(std::string_view s) {
  auto b = nuraft::buffer::alloc(s.size());
  if (!s.empty()) std::memcpy(b->data_begin(), s.data(), s.size());
  b->pos(0);
  return b;
}

// The bytes of `b` from its position on.
inline std::string ToString(nuraft::buffer& b) {
  return std::string(reinterpret_cast<const char*>(b.data_begin()), b.size());
}

}  // namespace fjord::raft

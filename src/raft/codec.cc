#include "raft/codec.h"

#include <cstring>

#include <libnuraft/buffer.hxx>
#include <libnuraft/log_entry.hxx>

namespace fjord::raft {
namespace {

constexpr uint8_t kVersion = 1;
// A request never carries more entries than this; a count above it is
// malformed input, not a reason to reserve memory.
constexpr uint32_t kMaxEntries = 1u << 20;

void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
template <typename T>
void PutLe(std::string& out, T v) {
  for (size_t i = 0; i < sizeof(T); i++) out.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
}
void PutBytes(std::string& out, const void* p, size_t n) {
  PutLe<uint32_t>(out, static_cast<uint32_t>(n));
  out.append(static_cast<const char*>(p), n);
}

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool U8(uint8_t* v) {
    if (d_.size() < 1) return false;
    *v = static_cast<uint8_t>(d_[0]);
    d_.remove_prefix(1);
    return true;
  }
  template <typename T>
  bool Le(T* v) {
    if (d_.size() < sizeof(T)) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < sizeof(T); i++) x |= static_cast<uint64_t>(static_cast<uint8_t>(d_[i])) << (8 * i);
    *v = static_cast<T>(x);
    d_.remove_prefix(sizeof(T));
    return true;
  }
  bool Bytes(std::string_view* v) {
    uint32_t n = 0;
    if (!Le(&n) || d_.size() < n) return false;
    *v = d_.substr(0, n);
    d_.remove_prefix(n);
    return true;
  }
  bool done() const { return d_.empty(); }

 private:
  std::string_view d_;
};

// An enum read from the network must hold one of its values before it is
// one (anything else is undefined behaviour, not just a wrong message).
bool ValidType(uint8_t t) {
  return t >= nuraft::msg_type::request_vote_request && t <= nuraft::msg_type::custom_notification_response;
}
bool ValidResultCode(int32_t rc) { return rc >= -32768 && rc <= 0; }

nuraft::ptr<nuraft::buffer> ToBuffer(std::string_view v) {
  auto b = nuraft::buffer::alloc(v.size());
  if (!v.empty()) std::memcpy(b->data_begin(), v.data(), v.size());
  return b;
}

}  // namespace

std::string EncodeRequest(nuraft::req_msg& req) {
  std::string out;
  size_t payload = 0;
  for (auto& e : req.log_entries()) payload += e->get_buf().size() + 32;
  out.reserve(48 + payload);
  PutU8(out, kVersion);
  PutU8(out, static_cast<uint8_t>(req.get_type()));
  PutLe<int32_t>(out, req.get_src());
  PutLe<int32_t>(out, req.get_dst());
  PutLe<uint64_t>(out, req.get_term());
  PutLe<uint64_t>(out, req.get_last_log_term());
  PutLe<uint64_t>(out, req.get_last_log_idx());
  PutLe<uint64_t>(out, req.get_commit_idx());
  PutLe<uint32_t>(out, static_cast<uint32_t>(req.log_entries().size()));
  for (auto& e : req.log_entries()) {
    PutLe<uint64_t>(out, e->get_term());
    PutU8(out, static_cast<uint8_t>(e->get_val_type()));
    PutLe<uint64_t>(out, e->get_timestamp());
    if (e->is_buf_null()) {
      PutBytes(out, "", 0);
    } else {
      PutBytes(out, e->get_buf().data_begin(), e->get_buf().size());
    }
  }
  return out;
}

nuraft::ptr<nuraft::req_msg> DecodeRequest(std::string_view data) {
  Reader r(data);
  uint8_t version = 0, type = 0;
  int32_t src = 0, dst = 0;
  uint64_t term = 0, last_term = 0, last_idx = 0, commit = 0;
  uint32_t n = 0;
  if (!r.U8(&version) || version != kVersion || !r.U8(&type) || !r.Le(&src) || !r.Le(&dst) || !r.Le(&term) ||
      !r.Le(&last_term) || !r.Le(&last_idx) || !r.Le(&commit) || !r.Le(&n) || n > kMaxEntries ||
      !ValidType(type))
    return nullptr;
  auto req = nuraft::cs_new<nuraft::req_msg>(term, static_cast<nuraft::msg_type>(type), src, dst, last_term,
                                             last_idx, commit);
  for (uint32_t i = 0; i < n; i++) {
    uint64_t eterm = 0, ts = 0;
    uint8_t vtype = 0;
    std::string_view buf;
    if (!r.Le(&eterm) || !r.U8(&vtype) || !r.Le(&ts) || !r.Bytes(&buf)) return nullptr;
    req->log_entries().push_back(nuraft::cs_new<nuraft::log_entry>(
        eterm, ToBuffer(buf), static_cast<nuraft::log_val_type>(vtype), ts));
  }
  if (!r.done()) return nullptr;
  return req;
}

std::string EncodeResponse(nuraft::resp_msg& resp) {
  std::string out;
  auto ctx = resp.get_ctx();
  out.reserve(64 + (ctx ? ctx->size() : 0));
  PutU8(out, kVersion);
  PutU8(out, static_cast<uint8_t>(resp.get_type()));
  PutLe<int32_t>(out, resp.get_src());
  PutLe<int32_t>(out, resp.get_dst());
  PutLe<uint64_t>(out, resp.get_term());
  PutLe<uint64_t>(out, resp.get_next_idx());
  PutU8(out, resp.get_accepted() ? 1 : 0);
  PutLe<int64_t>(out, resp.get_next_batch_size_hint_in_bytes());
  PutLe<int32_t>(out, static_cast<int32_t>(resp.get_result_code()));
  PutU8(out, ctx ? 1 : 0);
  if (ctx) PutBytes(out, ctx->data_begin(), ctx->size());
  return out;
}

nuraft::ptr<nuraft::resp_msg> DecodeResponse(std::string_view data) {
  Reader r(data);
  uint8_t version = 0, type = 0, accepted = 0, has_ctx = 0;
  int32_t src = 0, dst = 0, rc = 0;
  uint64_t term = 0, next_idx = 0;
  int64_t hint = 0;
  if (!r.U8(&version) || version != kVersion || !r.U8(&type) || !r.Le(&src) || !r.Le(&dst) || !r.Le(&term) ||
      !r.Le(&next_idx) || !r.U8(&accepted) || !r.Le(&hint) || !r.Le(&rc) || !r.U8(&has_ctx) ||
      !ValidType(type) || !ValidResultCode(rc))
    return nullptr;
  auto resp = nuraft::cs_new<nuraft::resp_msg>(term, static_cast<nuraft::msg_type>(type), src, dst, next_idx,
                                               accepted != 0);
  resp->set_next_batch_size_hint_in_bytes(hint);
  resp->set_result_code(static_cast<nuraft::cmd_result_code>(rc));
  if (has_ctx) {
    std::string_view ctx;
    if (!r.Bytes(&ctx)) return nullptr;
    resp->set_ctx(ToBuffer(ctx));
  }
  if (!r.done()) return nullptr;
  return resp;
}

}  // namespace fjord::raft

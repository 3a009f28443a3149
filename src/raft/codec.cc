#include "raft/codec.h"


#include <libnuraft/buffer.hxx>
#include <libnuraft/log_entry.hxx>

#include "raft/bytes.h"
#include "store/coding.h"

namespace fjord::raft {
namespace {

constexpr uint8_t kVersion = 1;
// A request never carries more entries than this; a count above it is
// malformed input, not a reason to reserve memory.
constexpr uint32_t kMaxEntries = 1u << 20;

// Fixed-width little-endian fields (store/coding.h); signed ones as their
// two's complement.
void PutU8(std::string& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void PutU32(std::string& out, uint32_t v) { store::PutU32(&out, v); }
void PutU64(std::string& out, uint64_t v) { store::PutU64(&out, v); }
void PutBytes(std::string& out, const void* p, size_t n) {
  PutU32(out, static_cast<uint32_t>(n));
  out.append(static_cast<const char*>(p), n);
}

class Reader {
 public:
  explicit Reader(std::string_view d) : r_(d) {}
  bool U8(uint8_t* v) { return r_.U8(v); }
  bool U32(uint32_t* v) { return r_.U32(v); }
  bool U64(uint64_t* v) { return r_.U64(v); }
  bool I32(int32_t* v) {
    uint32_t u = 0;
    if (!r_.U32(&u)) return false;
    *v = static_cast<int32_t>(u);
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u = 0;
    if (!r_.U64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Bytes(std::string_view* v) {
    uint32_t n = 0;
    return r_.U32(&n) && r_.Bytes(n, v);
  }
  bool done() const { return r_.remaining() == 0; }

 private:
  store::Reader r_;
};

// An enum read from the network must hold one of its values before it is
// one (anything else is undefined behaviour, not just a wrong message).
bool ValidType(uint8_t t) {
  return t >= nuraft::msg_type::request_vote_request && t <= nuraft::msg_type::custom_notification_response;
}
bool ValidResultCode(int32_t rc) { return rc >= -32768 && rc <= 0; }

}  // namespace

std::string EncodeRequest(nuraft::req_msg& req) {
  std::string out;
  size_t payload = 0;
  for (auto& e : req.log_entries()) payload += e->get_buf().size() + 32;
  out.reserve(48 + payload);
  PutU8(out, kVersion);
  PutU8(out, static_cast<uint8_t>(req.get_type()));
  PutU32(out, static_cast<uint32_t>(req.get_src()));
  PutU32(out, static_cast<uint32_t>(req.get_dst()));
  PutU64(out, req.get_term());
  PutU64(out, req.get_last_log_term());
  PutU64(out, req.get_last_log_idx());
  PutU64(out, req.get_commit_idx());
  PutU32(out, static_cast<uint32_t>(req.log_entries().size()));
  for (auto& e : req.log_entries()) {
    PutU64(out, e->get_term());
    PutU8(out, static_cast<uint8_t>(e->get_val_type()));
    PutU64(out, e->get_timestamp());
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
  if (!r.U8(&version) || version != kVersion || !r.U8(&type) || !r.I32(&src) || !r.I32(&dst) || !r.U64(&term) ||
      !r.U64(&last_term) || !r.U64(&last_idx) || !r.U64(&commit) || !r.U32(&n) || n > kMaxEntries ||
      !ValidType(type))
    return nullptr;
  auto req = nuraft::cs_new<nuraft::req_msg>(term, static_cast<nuraft::msg_type>(type), src, dst, last_term,
                                             last_idx, commit);
  for (uint32_t i = 0; i < n; i++) {
    uint64_t eterm = 0, ts = 0;
    uint8_t vtype = 0;
    std::string_view buf;
    if (!r.U64(&eterm) || !r.U8(&vtype) || !r.U64(&ts) || !r.Bytes(&buf)) return nullptr;
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
  PutU32(out, static_cast<uint32_t>(resp.get_src()));
  PutU32(out, static_cast<uint32_t>(resp.get_dst()));
  PutU64(out, resp.get_term());
  PutU64(out, resp.get_next_idx());
  PutU8(out, resp.get_accepted() ? 1 : 0);
  PutU64(out, static_cast<uint64_t>(resp.get_next_batch_size_hint_in_bytes()));
  PutU32(out, static_cast<uint32_t>(static_cast<int32_t>(resp.get_result_code())));
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
  if (!r.U8(&version) || version != kVersion || !r.U8(&type) || !r.I32(&src) || !r.I32(&dst) || !r.U64(&term) ||
      !r.U64(&next_idx) || !r.U8(&accepted) || !r.I64(&hint) || !r.I32(&rc) || !r.U8(&has_ctx) ||
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

#include "websocket/frame.h"

#include <algorithm>
#include <cstring>

namespace fjord::websocket {
namespace {

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kRsv1 = 0x40;  // permessage-deflate: the message is compressed
constexpr uint8_t kRsv23 = 0x30;
constexpr uint8_t kMaskBit = 0x80;

constexpr uint8_t kContinuation = 0;
constexpr uint8_t kText = 1;
constexpr uint8_t kBinary = 2;
constexpr uint8_t kClose = 8;
constexpr uint8_t kPing = 9;
constexpr uint8_t kPong = 10;

constexpr size_t kMaxControlPayload = 125;
// Messages this short are not worth compressing (nats-server's threshold).
constexpr size_t kCompressThreshold = 64;
// What RFC 7692 §7.2.1 has the sender strip and the receiver put back.
constexpr char kDeflateTail[4] = {0x00, 0x00, char(0xff), char(0xff)};
// A compressed message's size before inflating, as nats-server: room for a
// batch of several max_payload operations, but bounded.
constexpr uint64_t kCompressedMultiple = 8;
constexpr uint64_t kCompressedLimit = 64ull << 20;

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0xff >> (len + 1));
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and beyond U+10FFFF are not UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

// RFC 6455 §7.4: codes a peer may send.
bool ValidCloseCode(unsigned code) {
  if (code < 1000 || code >= 5000) return false;
  if (code == 1004 || code == 1005 || code == 1006 || code == 1015) return false;
  return !(code >= 1016 && code <= 2999);
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  // A control frame carries at most 125 bytes; a cut reason says so.
  std::string body(reason);
  if (body.size() > kMaxControlPayload - 2) body = body.substr(0, kMaxControlPayload - 5) + "...";
  std::string p;
  p.push_back(char(code >> 8));
  p.push_back(char(code & 0xff));
  p += body;
  return p;
}

}  // namespace

Session::Session(const SessionOptions& opts) : opts_(opts) {}

Session::~Session() {
  if (inflate_ready_) inflateEnd(&inflate_);
  if (deflate_ready_) deflateEnd(&deflate_);
}

Session::Status Session::Fail(uint16_t code, std::string reason) {
  error_ = std::move(reason);
  error_code_ = code;
  closed_ = true;
  QueueClose(code, error_);
  return Status::kError;
}

void Session::Frame(uint8_t first_byte, std::string_view payload, std::string* out) {
  out->push_back(char(first_byte));
  size_t n = payload.size();
  if (n <= 125) {
    out->push_back(char(n));
  } else if (n <= 0xffff) {
    out->push_back(char(126));
    out->push_back(char(n >> 8));
    out->push_back(char(n & 0xff));
  } else {
    out->push_back(char(127));
    for (int i = 7; i >= 0; --i) out->push_back(char((uint64_t(n) >> (8 * i)) & 0xff));
  }
  out->append(payload);
}

void Session::QueueClose(uint16_t code, std::string_view reason) {
  if (close_queued_) return;
  close_queued_ = true;
  Frame(kFin | kClose, ClosePayload(code, reason), &close_);
}

void Session::Write(std::string_view data, std::string* out) {
  out->append(control_);
  control_.clear();
  if (!data.empty() && !close_sent_) {
    bool compressed = opts_.compress && data.size() > kCompressThreshold;
    std::string_view payload = data;
    if (compressed) {
      if (!deflate_ready_) {
        // Raw deflate (negative window bits), as RFC 7692 wants. An 8 KiB
        // window and memLevel 6 hold the state at about 64 KiB a connection
        // (zlib's defaults take 256 KiB) for little loss on NATS traffic:
        // each flush is compressed on its own anyway.
        if (deflateInit2(&deflate_, Z_BEST_SPEED, Z_DEFLATED, -13, 6, Z_DEFAULT_STRATEGY) != Z_OK) {
          compressed = false;
        } else {
          deflate_ready_ = true;
        }
      } else {
        deflateReset(&deflate_);  // server_no_context_takeover
      }
    }
    if (compressed) {
      scratch_.resize(deflateBound(&deflate_, uLong(data.size())) + 16);
      deflate_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
      deflate_.avail_in = uInt(data.size());
      deflate_.next_out = reinterpret_cast<Bytef*>(scratch_.data());
      deflate_.avail_out = uInt(scratch_.size());
      int rc = deflate(&deflate_, Z_SYNC_FLUSH);
      size_t len = scratch_.size() - deflate_.avail_out;
      if (rc != Z_OK || deflate_.avail_in != 0 || len < 4) {
        compressed = false;  // cannot happen with deflateBound's room; send it plain
      } else {
        payload = std::string_view(scratch_.data(), len - 4);  // without 00 00 ff ff
      }
    }
    size_t max = opts_.max_frame;
    if (max == 0 || (compressed && opts_.no_compressed_fragments)) max = payload.size();
    bool first = true;
    do {
      size_t take = std::min(max, payload.size());
      bool fin = take == payload.size();
      uint8_t b0 = (first ? kBinary : kContinuation) | (fin ? kFin : 0) | (first && compressed ? kRsv1 : 0);
      Frame(b0, payload.substr(0, take), out);
      payload.remove_prefix(take);
      first = false;
    } while (!payload.empty());
  }
  if (!close_.empty()) {
    out->append(close_);
    close_.clear();
    close_sent_ = true;
  }
}

bool Session::Inflate(const char* p, size_t n, const std::function<void(std::string_view)>& sink) {
  if (!inflate_ready_) {
    if (inflateInit2(&inflate_, -15) != Z_OK) {
      Fail(kCloseInternalError, "cannot decompress");
      return false;
    }
    inflate_ready_ = true;
  }
  constexpr size_t kChunk = 32 * 1024;
  if (scratch_.size() < kChunk) scratch_.resize(kChunk);
  inflate_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(p));
  inflate_.avail_in = uInt(n);
  while (true) {
    inflate_.next_out = reinterpret_cast<Bytef*>(scratch_.data());
    inflate_.avail_out = uInt(kChunk);
    int rc = inflate(&inflate_, Z_SYNC_FLUSH);
    size_t got = kChunk - inflate_.avail_out;
    message_out_ += got;
    if (message_out_ > opts_.max_payload) {
      // Up to the bound, as nats-server: the same whatever the reads were.
      size_t over = size_t(message_out_ - opts_.max_payload);
      if (got > over) sink(std::string_view(scratch_.data(), got - over));
      Fail(kCloseMessageTooBig, "Maximum Payload Violation");
      return false;
    }
    // What came before a corruption is delivered, however the input was
    // split into reads.
    if (got > 0) sink(std::string_view(scratch_.data(), got));
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      Fail(kCloseInvalidPayload, "invalid compressed data");
      return false;
    }
    // A final deflate block ends the stream: what follows is ignored.
    if (rc == Z_STREAM_END) return true;
    if (inflate_.avail_out != 0 && (inflate_.avail_in == 0 || rc == Z_BUF_ERROR)) return true;
  }
}

bool Session::Deliver(char* p, size_t n, bool final, const std::function<void(std::string_view)>& sink) {
  if (!message_compressed_) {
    if (n > 0) sink(std::string_view(p, n));
    return true;
  }
  if (n > 0 && !Inflate(p, n, sink)) return false;
  if (final) {
    if (!Inflate(kDeflateTail, sizeof kDeflateTail, sink)) return false;
    inflateReset(&inflate_);  // client_no_context_takeover
    message_out_ = 0;
    message_in_ = 0;
  }
  return true;
}

Session::Status Session::HandleControl() {
  std::string_view p = control_payload_;
  switch (opcode_) {
    case kPing:
      Frame(kFin | kPong, p, &control_);
      return Status::kOk;
    case kPong:
      return Status::kOk;
    default:
      break;
  }
  // Close: echo the status (RFC 6455 §5.5.1), or an empty close without one.
  closed_ = true;
  if (p.size() == 1) return Fail(kCloseProtocolError, "close frame payload cannot be 1 byte");
  if (p.empty()) {
    if (!close_queued_) {
      close_queued_ = true;
      Frame(kFin | kClose, {}, &close_);
    }
    return Status::kClosed;
  }
  unsigned code = (unsigned(static_cast<unsigned char>(p[0])) << 8) | static_cast<unsigned char>(p[1]);
  if (!ValidCloseCode(code)) return Fail(kCloseProtocolError, "invalid close status code " + std::to_string(code));
  std::string_view body = p.substr(2);
  if (!ValidUtf8(body)) {
    QueueClose(kCloseInvalidPayload, "invalid utf8 body in close frame");
  } else {
    QueueClose(uint16_t(code), body);
  }
  return Status::kClosed;
}

Session::Status Session::Read(char* data, size_t n, const std::function<void(std::string_view)>& sink) {
  if (closed_) return Status::kClosed;
  while (n > 0) {
    if (!in_payload_) {
      // The header: 2 bytes, then 0, 2 or 8 of length, then 4 of mask.
      size_t need = 2;
      if (header_.size() >= 2) {
        uint8_t l7 = static_cast<uint8_t>(header_[1]) & 0x7f;
        need += (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((static_cast<uint8_t>(header_[1]) & kMaskBit) ? 4 : 0);
      }
      size_t take = std::min(n, need - header_.size());
      header_.append(data, take);
      data += take;
      n -= take;
      if (header_.size() < need) continue;
      if (need == 2) {
        // Just learnt the length's size: the loop reads the rest.
        uint8_t l7 = static_cast<uint8_t>(header_[1]) & 0x7f;
        if (l7 >= 126 || (static_cast<uint8_t>(header_[1]) & kMaskBit)) continue;
      }
      auto b0 = static_cast<uint8_t>(header_[0]);
      auto b1 = static_cast<uint8_t>(header_[1]);
      uint8_t op = b0 & 0x0f;
      bool fin = (b0 & kFin) != 0;
      bool rsv1 = (b0 & kRsv1) != 0;
      masked_ = (b1 & kMaskBit) != 0;
      if (b0 & kRsv23) return Fail(kCloseProtocolError, "RSV2 and RSV3 must be clear");
      if (rsv1 && !opts_.compress) {
        return Fail(kCloseProtocolError, "compressed frame received without negotiated permessage-deflate");
      }
      if (opts_.require_mask && !masked_) return Fail(kCloseProtocolError, "mask bit missing");
      uint64_t len = b1 & 0x7f;
      size_t pos = 2;
      if (len == 126) {
        len = (uint64_t(static_cast<uint8_t>(header_[2])) << 8) | static_cast<uint8_t>(header_[3]);
        pos = 4;
      } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<uint8_t>(header_[2 + i]);
        pos = 10;
        if (len >> 63) return Fail(kCloseProtocolError, "invalid 64-bit payload length");
      }
      if (masked_) std::memcpy(mask_, header_.data() + pos, 4);
      header_.clear();
      mask_pos_ = 0;
      switch (op) {
        case kPing:
        case kPong:
        case kClose:
          if (len > kMaxControlPayload) {
            return Fail(kCloseProtocolError, "control frame length bigger than maximum allowed of 125 bytes");
          }
          if (!fin) return Fail(kCloseProtocolError, "control frame does not have final bit set");
          if (rsv1) return Fail(kCloseProtocolError, "control frame must not be compressed");
          control_payload_.clear();
          break;
        case kText:
        case kBinary:
          if (in_message_) {
            return Fail(kCloseProtocolError,
                        "new message started before final frame for previous message was received");
          }
          in_message_ = !fin;
          message_compressed_ = rsv1;
          message_in_ = 0;
          message_out_ = 0;
          break;
        case kContinuation:
          if (!in_message_ || rsv1) return Fail(kCloseProtocolError, "invalid continuation frame");
          in_message_ = !fin;
          break;
        default:
          return Fail(kCloseProtocolError, "unknown opcode " + std::to_string(op));
      }
      opcode_ = op;
      final_ = fin;
      remaining_ = len;
      if (op < kClose && message_compressed_) {
        message_in_ += len;
        uint64_t limit = std::min<uint64_t>(kCompressedMultiple * opts_.max_payload, kCompressedLimit);
        if (message_in_ > limit) return Fail(kCloseMessageTooBig, "Maximum Payload Violation");
      }
      in_payload_ = true;
    }
    // The payload (possibly empty).
    size_t take = size_t(std::min<uint64_t>(remaining_, n));
    if (masked_) {
      for (size_t i = 0; i < take; ++i) data[i] ^= char(mask_[(mask_pos_ + i) & 3]);
      mask_pos_ = (mask_pos_ + take) & 3;
    }
    remaining_ -= take;
    bool done = remaining_ == 0;
    if (opcode_ >= kClose) {
      control_payload_.append(data, take);
      if (done) {
        in_payload_ = false;
        if (Status st = HandleControl(); st != Status::kOk) return st;
      }
    } else {
      if (!Deliver(data, take, final_ && done, sink)) return Status::kError;
      if (done) in_payload_ = false;
    }
    data += take;
    n -= take;
  }
  return Status::kOk;
}

}  // namespace fjord::websocket

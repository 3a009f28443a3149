#pragma once
// WebSocket framing (RFC 6455 §5) with permessage-deflate (RFC 7692, no
// context takeover), for the server side of a NATS connection: the client
// protocol runs unchanged inside binary messages, so a Session turns
// received frames into the byte stream the protocol parser reads, and the
// bytes the connection writes into frames.
//
// Owned by one connection and used on its thread only.
#include <zlib.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace fjord::websocket {

// Close status codes (RFC 6455 §7.4.1) the server sends.
enum CloseCode : uint16_t {
  kCloseNormal = 1000,
  kCloseGoingAway = 1001,
  kCloseProtocolError = 1002,
  kCloseInvalidPayload = 1007,
  kClosePolicyViolation = 1008,
  kCloseMessageTooBig = 1009,
  kCloseInternalError = 1011,
  kCloseTlsHandshake = 1015,
};

struct SessionOptions {
  bool compress = false;     // permessage-deflate was negotiated
  bool require_mask = true;  // false after "Nats-No-Masking: true"
  // Frames of at most this many payload bytes (0: one frame a message).
  // Browsers do better with small ones (nats-server uses 4 KiB).
  size_t max_frame = 0;
  bool no_compressed_fragments = false;  // Safari: a compressed message is one frame
  // A compressed message may inflate to at most this many bytes (as
  // nats-server: the max_payload), and carry at most 8x that compressed.
  size_t max_payload = 1 << 20;
};

class Session {
 public:
  explicit Session(const SessionOptions& opts);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  enum class Status {
    kOk,
    // The peer sent a close frame: the reply is queued (Write), the
    // connection ends after writing it.
    kClosed,
    // A protocol violation: a close frame with its code and reason is
    // queued, error() says what; the connection ends after writing it.
    kError,
  };
  // Decodes `n` received bytes (unmasked in place, so `data` is modified).
  // Application bytes go to `sink` in order, in pieces; replies to PINGs
  // and closes are queued for the next Write. Partial frames are kept.
  Status Read(char* data, size_t n, const std::function<void(std::string_view)>& sink);
  const std::string& error() const { return error_; }
  uint16_t error_code() const { return error_code_; }

  // Appends to `out` the queued PONGs, then `data` (if any) as one binary
  // message (compressed when negotiated and longer than 64 bytes), then the
  // queued close frame (if any), after which nothing more is written.
  void Write(std::string_view data, std::string* out);
  // Whether control frames wait to be written.
  bool HasControl() const { return !control_.empty() || !close_.empty(); }
  // Queues a close frame (once): the last thing the connection writes.
  void QueueClose(uint16_t code, std::string_view reason);
  bool close_queued() const { return close_queued_; }

 private:
  Status Fail(uint16_t code, std::string reason);
  bool Deliver(char* p, size_t n, bool final, const std::function<void(std::string_view)>& sink);
  bool Inflate(const char* p, size_t n, const std::function<void(std::string_view)>& sink);
  Status HandleControl();
  void Frame(uint8_t first_byte, std::string_view payload, std::string* out);

  SessionOptions opts_;
  std::string control_;  // framed PONGs to write
  std::string close_;    // the framed close, written after everything else
  bool close_queued_ = false;
  bool close_sent_ = false;  // nothing goes out after it
  bool closed_ = false;      // the peer closed, or broke the protocol: reading ends
  std::string error_;
  uint16_t error_code_ = 0;

  // Decoder state: the frame header being read, then its payload.
  std::string header_;          // partial header bytes
  uint64_t remaining_ = 0;      // payload bytes left in the current frame
  bool in_payload_ = false;
  uint8_t opcode_ = 0;          // current frame's
  bool final_ = false;          // current frame's FIN
  bool masked_ = false;
  uint8_t mask_[4] = {};
  size_t mask_pos_ = 0;
  bool in_message_ = false;     // a data message waits for continuation frames
  bool message_compressed_ = false;
  uint64_t message_in_ = 0;     // compressed bytes of the current message
  uint64_t message_out_ = 0;    // inflated bytes of the current message
  std::string control_payload_; // a control frame's payload, until complete

  z_stream inflate_{};
  bool inflate_ready_ = false;
  z_stream deflate_{};
  bool deflate_ready_ = false;
  std::string scratch_;
};

}  // namespace fjord::websocket

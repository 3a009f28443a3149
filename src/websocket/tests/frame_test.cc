#include "websocket/frame.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>

namespace fjord::websocket {
namespace {

// A client's frame: masked unless told otherwise.
std::string ClientFrame(uint8_t b0, std::string_view payload, bool mask = true) {
  std::string f;
  f.push_back(char(b0));
  uint8_t m = mask ? 0x80 : 0;
  size_t n = payload.size();
  if (n <= 125) {
    f.push_back(char(m | n));
  } else if (n <= 0xffff) {
    f.push_back(char(m | 126));
    f.push_back(char(n >> 8));
    f.push_back(char(n & 0xff));
  } else {
    f.push_back(char(m | 127));
    for (int i = 7; i >= 0; --i) f.push_back(char((uint64_t(n) >> (8 * i)) & 0xff));
  }
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (mask) f.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < n; ++i) f.push_back(mask ? char(payload[i] ^ key[i & 3]) : payload[i]);
  return f;
}

// Raw deflate with a sync flush, without the 00 00 ff ff tail (RFC 7692).
std::string Deflate(std::string_view in) {
  z_stream z{};
  deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, uLong(in.size())) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - 4);
  deflateEnd(&z);
  return out;
}

std::string Inflate(std::string in) {
  in.append("\x00\x00\xff\xff", 4);
  z_stream z{};
  inflateInit2(&z, -15);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  inflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out);
  inflateEnd(&z);
  return out;
}

struct ServerFrame {
  uint8_t b0;
  std::string payload;
};

// Splits what the server wrote into frames (unmasked).
std::vector<ServerFrame> ParseServer(std::string_view s) {
  std::vector<ServerFrame> out;
  while (!s.empty()) {
    EXPECT_GE(s.size(), 2u);
    auto b0 = uint8_t(s[0]);
    auto b1 = uint8_t(s[1]);
    EXPECT_EQ(b1 & 0x80, 0) << "server frames are not masked";
    uint64_t n = b1 & 0x7f;
    size_t pos = 2;
    if (n == 126) {
      n = (uint64_t(uint8_t(s[2])) << 8) | uint8_t(s[3]);
      pos = 4;
    } else if (n == 127) {
      n = 0;
      for (int i = 0; i < 8; ++i) n = (n << 8) | uint8_t(s[2 + i]);
      pos = 10;
    }
    out.push_back({b0, std::string(s.substr(pos, n))});
    s.remove_prefix(pos + n);
  }
  return out;
}

struct Reader {
  Session s;
  std::string got;
  explicit Reader(SessionOptions o = {}) : s(o) {}
  Session::Status Feed(std::string bytes) {
    return s.Read(bytes.data(), bytes.size(), [this](std::string_view d) { got.append(d); });
  }
  std::string Out() {
    std::string o;
    s.Write({}, &o);
    return o;
  }
};

TEST(Frame, DecodesMaskedBinaryAndTextFrames) {
  Reader r;
  EXPECT_EQ(r.Feed(ClientFrame(0x82, "PING\r\n") + ClientFrame(0x81, "PONG\r\n")), Session::Status::kOk);
  EXPECT_EQ(r.got, "PING\r\nPONG\r\n");
}

TEST(Frame, ByteAtATimeEqualsAllAtOnce) {
  std::string big(70000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = char('a' + i % 26);
  std::string wire = ClientFrame(0x02, "PUB a 5\r\n") + ClientFrame(0x80, "hello\r\n") + ClientFrame(0x89, "p") +
                     ClientFrame(0x82, big) + ClientFrame(0x82, std::string(300, 'y')) + ClientFrame(0x82, "");
  Reader whole;
  ASSERT_EQ(whole.Feed(wire), Session::Status::kOk);
  Reader bytes;
  for (char c : wire) ASSERT_EQ(bytes.Feed(std::string(1, c)), Session::Status::kOk);
  EXPECT_EQ(whole.got, "PUB a 5\r\nhello\r\n" + big + std::string(300, 'y'));
  EXPECT_EQ(bytes.got, whole.got);
  EXPECT_EQ(bytes.Out(), whole.Out());
}

TEST(Frame, PingIsAnsweredBeforeData) {
  Reader r;
  ASSERT_EQ(r.Feed(ClientFrame(0x89, "hi")), Session::Status::kOk);
  EXPECT_TRUE(r.s.HasControl());
  std::string out;
  r.s.Write("INFO {}\r\n", &out);
  auto frames = ParseServer(out);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].b0, 0x8a);  // FIN | PONG
  EXPECT_EQ(frames[0].payload, "hi");
  EXPECT_EQ(frames[1].b0, 0x82);  // FIN | binary
  EXPECT_EQ(frames[1].payload, "INFO {}\r\n");
  EXPECT_FALSE(r.s.HasControl());
}

TEST(Frame, CloseIsEchoedAndEndsReading) {
  Reader r;
  EXPECT_EQ(r.Feed(ClientFrame(0x88, std::string("\x03\xe8", 2) + "bye") + ClientFrame(0x82, "late")),
            Session::Status::kClosed);
  EXPECT_EQ(r.got, "");
  std::string out;
  r.s.Write("last", &out);
  auto frames = ParseServer(out);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].payload, "last");
  EXPECT_EQ(frames[1].b0, 0x88);  // the close comes last
  EXPECT_EQ(frames[1].payload, std::string("\x03\xe8", 2) + "bye");
  std::string after;
  r.s.Write("again", &after);
  EXPECT_EQ(after, "");
}

TEST(Frame, ProtocolViolationsCloseWith1002) {
  struct Case {
    std::string wire;
    std::string error;
  };
  std::vector<Case> cases = {
      {ClientFrame(0x82, "x", false), "mask bit missing"},
      {ClientFrame(0xa2, "x"), "RSV2 and RSV3 must be clear"},
      {ClientFrame(0xc2, "x"), "compressed frame received without negotiated permessage-deflate"},
      {ClientFrame(0x89, std::string(126, 'p')), "control frame length bigger than maximum allowed of 125 bytes"},
      {ClientFrame(0x09, "p"), "control frame does not have final bit set"},
      {ClientFrame(0x80, "x"), "invalid continuation frame"},
      {ClientFrame(0x02, "a") + ClientFrame(0x82, "b"),
       "new message started before final frame for previous message was received"},
      {ClientFrame(0x83, "x"), "unknown opcode 3"},
      {ClientFrame(0x88, "x"), "close frame payload cannot be 1 byte"},
      {ClientFrame(0x88, std::string("\x03\xed", 2)), "invalid close status code 1005"},
      {std::string("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00\x01\x02\x03\x04", 14), "invalid 64-bit payload length"},
  };
  for (const auto& c : cases) {
    Reader r;
    EXPECT_EQ(r.Feed(c.wire), Session::Status::kError) << c.error;
    EXPECT_EQ(r.s.error(), c.error);
    EXPECT_EQ(r.s.error_code(), kCloseProtocolError);
    auto frames = ParseServer(r.Out());
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].b0, 0x88);
    EXPECT_EQ(frames[0].payload, std::string("\x03\xea", 2) + c.error);
    // Reading has ended.
    EXPECT_EQ(r.Feed(ClientFrame(0x82, "x")), Session::Status::kClosed);
  }
}

TEST(Frame, InvalidUtf8CloseBodyIsAnswered1007) {
  Reader r;
  EXPECT_EQ(r.Feed(ClientFrame(0x88, std::string("\x03\xe8\xc3\x28", 4))), Session::Status::kClosed);
  auto frames = ParseServer(r.Out());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].payload.substr(0, 2), std::string("\x03\xef", 2));
}

TEST(Frame, NoMaskingWhenAgreed) {
  SessionOptions o;
  o.require_mask = false;
  Reader r(o);
  EXPECT_EQ(r.Feed(ClientFrame(0x82, "SUB a 1\r\n", false)), Session::Status::kOk);
  EXPECT_EQ(r.got, "SUB a 1\r\n");
}

TEST(Frame, InflatesCompressedMessagesAcrossFramesAndReads) {
  SessionOptions o;
  o.compress = true;
  Reader r(o);
  std::string text;
  for (int i = 0; i < 500; ++i) text += "PUB orders.oslo.created 20\r\n{\"id\":" + std::to_string(1000 + i) + ",\"qty\":1}\r\n";
  std::string z = Deflate(text);
  // One compressed message in three frames, fed in odd-sized reads, twice
  // (the second checks the inflater starts afresh: no context takeover).
  size_t a = z.size() / 3, b = 2 * z.size() / 3;
  std::string wire = ClientFrame(0x42, z.substr(0, a)) + ClientFrame(0x00, z.substr(a, b - a)) +
                     ClientFrame(0x80, z.substr(b));
  wire += wire;
  for (size_t i = 0; i < wire.size(); i += 7) ASSERT_EQ(r.Feed(wire.substr(i, 7)), Session::Status::kOk);
  EXPECT_EQ(r.got, text + text);
  // An uncompressed message in between is fine too.
  ASSERT_EQ(r.Feed(ClientFrame(0x82, "PING\r\n")), Session::Status::kOk);
  EXPECT_EQ(r.got, text + text + "PING\r\n");
}

TEST(Frame, DecompressionIsBounded) {
  SessionOptions o;
  o.compress = true;
  o.max_payload = 10000;
  Reader r(o);
  std::string bomb = Deflate(std::string(1 << 20, '\0'));
  EXPECT_EQ(r.Feed(ClientFrame(0xc2, bomb)), Session::Status::kError);
  EXPECT_EQ(r.s.error_code(), kCloseMessageTooBig);
  EXPECT_EQ(r.got.size(), 10000u);  // delivered up to the bound, no further

  Reader r2(o);
  // More compressed bytes than 8x max_payload, before inflating any.
  std::string noise(100000, '\0');
  std::mt19937 rng(7);
  for (auto& c : noise) c = char(rng());
  std::string hdr = ClientFrame(0xc2, Deflate(noise)).substr(0, 14);
  EXPECT_EQ(r2.Feed(hdr), Session::Status::kError);
  EXPECT_EQ(r2.s.error_code(), kCloseMessageTooBig);

  Reader r3(o);
  EXPECT_EQ(r3.Feed(ClientFrame(0xc2, "\xff\xff\xff\xff garbage")), Session::Status::kError);
  EXPECT_EQ(r3.s.error_code(), kCloseInvalidPayload);
}

TEST(Frame, WritesCompressedWhenNegotiatedAndWorthIt) {
  SessionOptions o;
  o.compress = true;
  Session s(o);
  std::string big;
  for (int i = 0; i < 200; ++i) big += "MSG orders.oslo.created 1 20\r\n{\"id\":1,\"qty\":1}\r\n";
  std::string out;
  s.Write(big, &out);
  auto frames = ParseServer(out);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].b0, 0xc2);  // FIN | RSV1 | binary
  EXPECT_LT(frames[0].payload.size(), big.size() / 5);
  EXPECT_EQ(Inflate(frames[0].payload), big);
  // Each message stands alone (server_no_context_takeover).
  out.clear();
  s.Write(big, &out);
  EXPECT_EQ(Inflate(ParseServer(out)[0].payload), big);

  out.clear();
  s.Write("PONG\r\n", &out);  // short: not compressed
  frames = ParseServer(out);
  EXPECT_EQ(frames[0].b0, 0x82);
  EXPECT_EQ(frames[0].payload, "PONG\r\n");
}

TEST(Frame, BrowserFramesAreSmall) {
  SessionOptions o;
  o.max_frame = 4096;
  Session s(o);
  std::string data(10000, 'z');
  std::string out;
  s.Write(data, &out);
  auto frames = ParseServer(out);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].b0, 0x02);
  EXPECT_EQ(frames[1].b0, 0x00);
  EXPECT_EQ(frames[2].b0, 0x80);
  EXPECT_EQ(frames[0].payload + frames[1].payload + frames[2].payload, data);
}

TEST(Frame, QueuedCloseFollowsTheData) {
  Session s(SessionOptions{});
  s.QueueClose(kClosePolicyViolation, std::string(200, 'r'));
  std::string out;
  s.Write("-ERR 'Authorization Violation'\r\n", &out);
  auto frames = ParseServer(out);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].payload, "-ERR 'Authorization Violation'\r\n");
  EXPECT_EQ(frames[1].b0, 0x88);
  EXPECT_EQ(frames[1].payload.size(), 125u);  // cut to fit a control frame
  EXPECT_EQ(frames[1].payload.substr(122), "...");
}

}  // namespace
}  // namespace fjord::websocket

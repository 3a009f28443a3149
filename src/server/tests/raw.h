#pragma once
// A raw protocol connection for tests: send bytes, wait (at most 5 s) for
// expected bytes.
#include <asio.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

namespace fjord::server {

using asio::ip::tcp;

class Raw {
 public:
  explicit Raw(int port) : sock_(ctx_) { sock_.connect({asio::ip::make_address("127.0.0.1"), uint16_t(port)}); }
  void Send(const std::string& s) { asio::write(sock_, asio::buffer(s)); }
  // A small fixed receive buffer (no autotuning): a reader that stops
  // reading backs the server up soon instead of after tens of MiB.
  void SetReceiveBuffer(int bytes) { sock_.set_option(asio::socket_base::receive_buffer_size(bytes)); }
  // Reads until `want` appears in the accumulated input or 5 s pass.
  bool Expect(const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (buf_.find(want) == std::string::npos) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      sock_.non_blocking(true);
      char tmp[4096];
      asio::error_code ec;
      size_t n = sock_.read_some(asio::buffer(tmp), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      if (ec) return buf_.find(want) != std::string::npos;
      buf_.append(tmp, n);
    }
    consumed_ = buf_.substr(0, buf_.find(want));
    buf_.erase(0, buf_.find(want) + want.size());
    return true;
  }
  bool Closed() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    sock_.non_blocking(true);
    while (std::chrono::steady_clock::now() < deadline) {
      char tmp[4096];
      asio::error_code ec;
      size_t n = sock_.read_some(asio::buffer(tmp), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        continue;
      }
      if (ec) return true;
      buf_.append(tmp, n);
    }
    return false;
  }
  std::string& buf() { return buf_; }
  // Like Expect, returning what came before `want`.
  std::string Until(const std::string& want) {
    if (!Expect(want)) return "<timeout>";
    return std::exchange(consumed_, {});
  }

 private:
  asio::io_context ctx_;
  tcp::socket sock_;
  std::string buf_;
  std::string consumed_;
};

}  // namespace fjord::server

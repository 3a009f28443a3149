#include "base/base64.h"

#include <openssl/evp.h>

#include <cctype>

namespace fjord::base64 {

std::string Encode(std::string_view in, bool url, bool pad) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
  out.resize(size_t(n));
  if (!pad)
    while (!out.empty() && out.back() == '=') out.pop_back();
  if (url)
    for (char& c : out) {
      if (c == '+') c = '-';
      if (c == '/') c = '_';
    }
  return out;
}

std::optional<std::string> Decode(std::string_view in) {
  // EVP_DecodeBlock skips leading and trailing white space, which base64
  // text here never has.
  if (!in.empty() && (std::isspace(static_cast<unsigned char>(in.front())) ||
                      std::isspace(static_cast<unsigned char>(in.back()))))
    return std::nullopt;
  bool url = in.find_first_of("-_") != std::string_view::npos;
  if (url && in.find_first_of("+/") != std::string_view::npos) return std::nullopt;
  std::string text(in);
  while (!text.empty() && text.back() == '=') text.pop_back();
  if (text.find('=') != std::string::npos) return std::nullopt;  // EVP_DecodeBlock takes it anywhere
  size_t pad = (4 - text.size() % 4) % 4;
  if (pad == 3) return std::nullopt;  // one character left over: not whole bytes
  // Padding is only ever what completes the text; any more was not base64.
  if (in.size() > text.size() + pad) return std::nullopt;
  if (url)
    for (char& c : text) {
      if (c == '-') c = '+';
      if (c == '_') c = '/';
    }
  text.append(pad, '=');
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
  if (n < 0) return std::nullopt;
  // It counts the padding as zero bytes.
  out.resize(size_t(n) - pad);
  return out;
}

}  // namespace fjord::base64

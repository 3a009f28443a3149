#include "store/compressed_block.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <xxhash.h>
#include <zstd.h>

#include "base/log.h"
#include "store/coding.h"

namespace fjord::store {
namespace {

// Container layout (little endian):
//   u32 magic "FJBZ", u32 version 1, u64 logical size, u32 chunk size, u32 n,
//   n x (u64 file offset, u32 compressed length, u64 xxh64 of the compressed bytes),
//   u64 xxh64 of everything before, then the chunks (zstd frames).
constexpr uint32_t kMagic = 0x5a424a46;  // "FJBZ"
constexpr uint32_t kVersion = 1;
constexpr uint32_t kChunk = 64 * 1024;
constexpr size_t kFixed = 24;      // magic .. n
constexpr size_t kEntry = 20;      // one chunk's table entry
// zstd's fastest regular level: a block is compressed while its stream
// waits (docs/performance.md has the ratio and the cost).
constexpr int kLevel = 1;
// No block is larger than a record can be plus a block's worth: a larger
// size in a header is damage, and must not become an allocation.
constexpr uint64_t kMaxLogical = 1ull << 30;

struct Chunk {
  uint64_t offset = 0;
  uint32_t len = 0;
  uint64_t sum = 0;
};

struct Header {
  uint64_t size = 0;
  uint32_t chunk = 0;
  std::vector<Chunk> chunks;
};

Status Corrupt(const std::string& path, std::string_view what) {
  return {Errc::kCorrupt, fmt::format("{}: compressed block: {}", path, what)};
}

// Reads and checks the header and chunk table.
Status ReadHeader(File* f, const std::string& path, Header* h) {
  char fixed[kFixed];
  auto r = f->Read(0, kFixed, fixed);
  if (!r.ok()) return r.status;
  if (r.value != kFixed || DecodeU32(fixed) != kMagic) return Corrupt(path, "no header");
  if (DecodeU32(fixed + 4) != kVersion) return Corrupt(path, "unknown version");
  h->size = DecodeU64(fixed + 8);
  h->chunk = DecodeU32(fixed + 16);
  uint32_t n = DecodeU32(fixed + 20);
  if (h->chunk != kChunk || h->size > kMaxLogical || n != (h->size + h->chunk - 1) / h->chunk) {
    return Corrupt(path, "bad header");
  }
  auto file_size = f->Size();
  if (!file_size.ok()) return file_size.status;
  if (file_size.value < kFixed + uint64_t{n} * kEntry + 8) return Corrupt(path, "short chunk table");
  std::string all(kFixed + size_t{n} * kEntry + 8, '\0');
  r = f->Read(0, all.size(), all.data());
  if (!r.ok()) return r.status;
  if (r.value != all.size() || XXH64(all.data(), all.size() - 8, 0) != DecodeU64(all.data() + all.size() - 8)) {
    return Corrupt(path, "header checksum");
  }
  h->chunks.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    const char* e = all.data() + kFixed + size_t{i} * kEntry;
    h->chunks[i] = {DecodeU64(e), DecodeU32(e + 8), DecodeU64(e + 12)};
    if (h->chunks[i].offset + h->chunks[i].len > file_size.value || h->chunks[i].len > ZSTD_compressBound(kChunk)) {
      return Corrupt(path, "chunk table points past the file");
    }
  }
  return {};
}

class CompressedFile final : public File {
 public:
  CompressedFile(Env* env, std::string path, std::unique_ptr<File> file, Header h)
      : env_(env), path_(std::move(path)), file_(std::move(file)), h_(std::move(h)), dctx_(ZSTD_createDCtx()) {}
  ~CompressedFile() override { ZSTD_freeDCtx(dctx_); }

  Status Append(std::string_view) override { return {Errc::kInvalid, path_ + ": compressed block is sealed"}; }
  Status Truncate(uint64_t) override { return {Errc::kInvalid, path_ + ": compressed block is sealed"}; }
  Status Sync() override { return file_->Sync(); }
  Result<uint64_t> Size() override { return {{}, h_.size}; }

  Result<size_t> Read(uint64_t offset, size_t n, char* dst) override {
    if (offset >= h_.size) return {{}, 0};
    n = static_cast<size_t>(std::min<uint64_t>(n, h_.size - offset));
    size_t done = 0;
    while (done < n) {
      uint64_t at = offset + done;
      auto i = static_cast<uint32_t>(at / h_.chunk);
      if (Status s = Load(i); !s.ok()) return {s, 0};
      size_t in = static_cast<size_t>(at - uint64_t{i} * h_.chunk);
      size_t take = std::min(n - done, cached_.size() - in);
      std::memcpy(dst + done, cached_.data() + in, take);
      done += take;
    }
    return {{}, n};
  }

  Status Write(uint64_t offset, std::string_view data) override {
    if (offset + data.size() > h_.size) return {Errc::kInvalid, path_ + ": write past a compressed block's end"};
    std::string raw(h_.size, '\0');
    auto r = Read(0, raw.size(), raw.data());
    if (!r.ok()) return r.status;
    std::memcpy(raw.data() + offset, data.data(), data.size());
    std::string container = CompressBlock(raw, true);
    Header h;
    // Replaced durably: a crash leaves the old container or the new one.
    file_.reset();
    Status s = WriteFileDurably(env_, path_, container);
    auto f = env_->OpenExisting(path_);
    if (!f.ok()) return s.ok() ? f.status : s;
    file_ = std::move(f.value);
    if (Status t = ReadHeader(file_.get(), path_, &h); !t.ok()) return s.ok() ? t : s;
    h_ = std::move(h);
    cached_index_ = UINT32_MAX;
    return s;
  }

 private:
  Status Load(uint32_t i) {
    if (i == cached_index_) return {};
    if (i >= h_.chunks.size()) return Corrupt(path_, "read past the chunk table");
    const Chunk& c = h_.chunks[i];
    compressed_.resize(c.len);
    auto r = file_->Read(c.offset, c.len, compressed_.data());
    if (!r.ok()) return r.status;
    uint64_t want = std::min<uint64_t>(h_.chunk, h_.size - uint64_t{i} * h_.chunk);
    cached_.resize(want);
    cached_index_ = i;
    const char* why = nullptr;
    if (r.value != c.len || XXH64(compressed_.data(), c.len, 0) != c.sum) {
      why = "fails its checksum";
    } else {
      size_t got = ZSTD_decompressDCtx(dctx_, cached_.data(), cached_.size(), compressed_.data(), c.len);
      if (ZSTD_isError(got) || got != want) why = "does not decompress";
    }
    if (why != nullptr) {
      // Read as 0xff bytes: the records in it fail their own checksums
      // where they are loaded (kCorrupt for those messages only), and a
      // scan reports them as damage and passes over them to the next valid
      // record, as over a damaged range of a raw block. Not zeros: a scan
      // takes zeros up to the end of a block for space written ahead, the
      // end of the log, and would say nothing.
      std::fill(cached_.begin(), cached_.end(), '\xff');
      if (reported_.insert(i).second) {
        log::Error("store: {}: compressed chunk {} (block bytes {}..{}) {}", path_, i, uint64_t{i} * h_.chunk,
                   uint64_t{i} * h_.chunk + want, why);
      }
    }
    return {};
  }

  Env* env_;
  std::string path_;
  std::unique_ptr<File> file_;
  Header h_;
  ZSTD_DCtx* dctx_;
  std::string compressed_, cached_;
  uint32_t cached_index_ = UINT32_MAX;
  std::set<uint32_t> reported_;  // damaged chunks already logged
};

}  // namespace

bool IsCompressedBlock(std::string_view head) { return head.size() >= 4 && DecodeU32(head.data()) == kMagic; }

std::string CompressBlock(std::string_view raw, bool force) {
  auto n = static_cast<uint32_t>((raw.size() + kChunk - 1) / kChunk);
  size_t table = kFixed + size_t{n} * kEntry + 8;
  std::string out(table, '\0');
  EncodeU32(out.data(), kMagic);
  EncodeU32(out.data() + 4, kVersion);
  EncodeU64(out.data() + 8, raw.size());
  EncodeU32(out.data() + 16, kChunk);
  EncodeU32(out.data() + 20, n);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::string buf(ZSTD_compressBound(kChunk), '\0');
  bool ok = true;
  for (uint32_t i = 0; i < n && ok; ++i) {
    std::string_view part = raw.substr(size_t{i} * kChunk, kChunk);
    size_t len = ZSTD_compressCCtx(cctx, buf.data(), buf.size(), part.data(), part.size(), kLevel);
    if (ZSTD_isError(len)) {
      ok = false;
      break;
    }
    char* e = out.data() + kFixed + size_t{i} * kEntry;
    EncodeU64(e, out.size());
    EncodeU32(e + 8, static_cast<uint32_t>(len));
    EncodeU64(e + 12, XXH64(buf.data(), len, 0));
    out.append(buf.data(), len);
  }
  ZSTD_freeCCtx(cctx);
  if (!ok) return {};
  EncodeU64(out.data() + table - 8, XXH64(out.data(), table - 8, 0));
  if (!force && out.size() > raw.size() - raw.size() / 10) return {};
  return out;
}

Result<uint64_t> CompressedBlockSize(File* f) {
  Header h;
  if (Status s = ReadHeader(f, "", &h); !s.ok()) return {s, 0};
  return {{}, h.size};
}

Result<std::unique_ptr<File>> OpenCompressedBlock(Env* env, const std::string& path, std::unique_ptr<File> file) {
  Header h;
  if (Status s = ReadHeader(file.get(), path, &h); !s.ok()) return {s, nullptr};
  return {{}, std::make_unique<CompressedFile>(env, path, std::move(file), std::move(h))};
}

}  // namespace fjord::store

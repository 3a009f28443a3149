#pragma once
// Subject transforms as nats-server 2.10 applies them (stream
// `subject_transform`, source/mirror `subject_transforms`, `republish`,
// core `mappings`, account imports).
//
// `src` is a subscription pattern ("" means ">"); `dest` is made of literal
// tokens, an optional trailing `>` (present exactly when `src` ends in `>`:
// it stands for the tokens that `>` matched), and placeholders that refer
// to the tokens `src`'s `*`s matched, numbered from 1:
//   $N, {{wildcard(N)}}            the Nth token
//   {{partition(P,N,...)}}         FNV-1a of the named tokens, mod P
//   {{splitFromLeft(N,k)}}         the token split in two after k bytes
//   {{splitFromRight(N,k)}}        ... k bytes from its end
//   {{sliceFromLeft(N,k)}}         the token cut into k-byte tokens
//   {{sliceFromRight(N,k)}}        ... aligned on its end
//   {{split(N,d)}}                 the token split on delimiter d
//   {{left(N,k)}} / {{right(N,k)}} its first / last k bytes
// Function names are matched as nats-server's patterns match them (each
// word's first letter in either case).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fjord::proto {

class SubjectTransform {
 public:
  // Validates the pair; on failure returns nullopt and sets *err. An empty
  // `dest` is the identity on subjects matching `src`.
  static std::optional<SubjectTransform> Make(std::string_view src, std::string_view dest, std::string* err);
  // As Make, with each `*` of `dest` standing for the next wildcard of
  // `src` in order, and only wildcard references allowed: how nats-server
  // reads an account import's `to` and a core mapping.
  static std::optional<SubjectTransform> MakeForImport(std::string_view src, std::string_view dest,
                                                       std::string* err);
  // The destination for a literal `subject`, or nullopt if it does not
  // match `src`.
  std::optional<std::string> Apply(std::string_view subject) const;

  // FNV-1a 32-bit, the partition function's hash; `h` carries it on over
  // several pieces.
  static constexpr uint32_t kFnv1aBasis = 2166136261u;
  static uint32_t Fnv1a(std::string_view data, uint32_t h = kFnv1aBasis);

 private:
  struct Part {
    enum Kind {
      kLiteral,
      kWildcard,
      kPartition,
      kSplitFromLeft,
      kSplitFromRight,
      kSliceFromLeft,
      kSliceFromRight,
      kSplit,
      kLeft,
      kRight,
      kRest,
    } kind;
    std::string text;          // kLiteral: the token; kSplit: the delimiter
    std::vector<size_t> refs;  // which `*`s of src (0-based)
    int64_t n = 0;             // partitions, position or size
  };
  std::vector<std::string> src_;
  std::vector<Part> dest_;
  bool identity_ = false;
};

}  // namespace fjord::proto

#pragma once
// Sealed blocks compressed with zstd (a stream's `compression: s2`; see
// docs/storage-format.md, Compressed blocks). A compressed block file is a
// container of independently compressed chunks of 64 KiB of the block, so
// reading one record decompresses one chunk, not the whole block. It is
// opened as a File of the block's logical (uncompressed) bytes: the store's
// record offsets, index files and summary are the same for a raw and a
// compressed block.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "store/env.h"

namespace fjord::store {

// Whether `head`, the first bytes of a block file, starts a compressed
// block. No raw block can start so (its first record's type byte would
// be invalid).
bool IsCompressedBlock(std::string_view head);

// The container for the raw block image `raw`. Empty if compression saves
// less than a tenth, unless `force`.
std::string CompressBlock(std::string_view raw, bool force = false);

// The logical size of the compressed block file `f` (from its header);
// kCorrupt if the header is damaged.
Result<uint64_t> CompressedBlockSize(File* f);

// `file`, the compressed block at `path`, as a File of its logical bytes.
// A read decompresses the chunks it touches (the last one stays cached). A
// chunk that fails its checksum or does not decompress is logged and read
// as 0xff bytes, so the records in it fail their own checksums (and scans
// pass over them as damage) while records in other chunks stay readable. Write (an erase in
// place, which is rare) rewrites the whole container durably, as
// WriteFileDurably does. Append and Truncate are refused: a compressed
// block is sealed.
Result<std::unique_ptr<File>> OpenCompressedBlock(Env* env, const std::string& path, std::unique_ptr<File> file);

}  // namespace fjord::store

// Arbitrary bytes as on-disk store data: the record scanner, the block index
// and consumer snapshot decoders, and a whole FileStore recovery with the
// bytes as its only block file. None may crash, hang or leak.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/log.h"
#include "store/block_index.h"
#include "store/consumer_state.h"
#include "store/env.h"
#include "store/record.h"
#include "store/store.h"

using namespace fjord::store;

namespace {

// A fresh directory per run, removed at its end, so nothing is left behind
// (libFuzzer leaves without running atexit handlers). tmpfs when there is
// one: recovery fsyncs, and disk fsyncs would make each run slow.
std::string MakeDir() {
  static const bool quiet = fjord::log::Configure("/dev/null", false, false);
  (void)quiet;
  std::string tmpl = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm/fuzz_record-XXXXXX"
                                                      : "/tmp/fuzz_record-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

void WriteFile(Env* env, const std::string& path, std::string_view bytes) {
  auto f = env->Open(path);
  if (!f.ok()) std::abort();
  f.value->Truncate(0);
  f.value->Append(bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  uint64_t records = 0;
  ScanRecords(in, 0, 0, [&](uint64_t, const RecordView& r) { records += r.len > 0; });
  BlockIndex idx;
  DecodeBlockIndex(in, &idx);
  ConsumerState cs;
  DecodeConsumerState(in, &cs);

  Env* env = DefaultEnv();
  std::string dir = MakeDir();
  std::string stream = dir + "/s";
  CreateDirsDurably(env, stream + "/msgs");
  WriteFile(env, stream + "/msgs/000001.blk", in);
  FileStoreOptions o;
  o.dir = stream;
  o.sync = SyncMode::kInterval;
  auto s = OpenFileStore(env, o, {});
  if (s.ok()) {
    StreamState st = s.value->State();
    uint64_t end = st.last_seq < st.first_seq + 64 ? st.last_seq : st.first_seq + 64;
    for (uint64_t q = st.first_seq; q <= end; ++q) s.value->Load(q);
    s.value->LoadLast(">");
    s.value->NumPending("a.*", 0);
    s.value->Append("after.recovery", "", "x", 1);
    s.value->Close();
  }
  RemoveTree(env, dir);
  return 0;
}

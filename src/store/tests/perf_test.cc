// Correctness at scale, with timings printed (never asserted: the machine
// is shared). Figures are reported in docs/storage-format.md.
#include <atomic>
#include <chrono>
#include <cstdio>

#include <gtest/gtest.h>

#include "store/store.h"
#include "store/tests/store_test_util.h"

namespace fjord::store {
namespace {

using testing::SyncWait;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::unique_ptr<Store> OpenFs(const std::string& dir, SyncMode mode) {
  FileStoreOptions o;
  o.dir = dir;
  o.sync = mode;
  o.sync_interval_ns = 100'000'000;
  auto r = OpenFileStore(DefaultEnv(), o, {});
  EXPECT_TRUE(r.ok()) << r.status.msg;
  return std::move(r.value);
}

TEST(StorePerf, RestartWithMillionMessages) {
  constexpr uint64_t kMsgs = 1'000'000;
  TempDir tmp;
  std::string dir = tmp.path() + "/big";
  const std::string payload(16, 'p');
  char subj[32];
  {
    auto s = OpenFs(dir, SyncMode::kInterval);
    auto t0 = Clock::now();
    for (uint64_t i = 1; i <= kMsgs; ++i) {
      std::snprintf(subj, sizeof subj, "bench.%llu", static_cast<unsigned long long>(i % 1000));
      ASSERT_TRUE(s->Append(subj, "", payload, static_cast<int64_t>(i)).ok());
      if (i % 100 == 0) s->Sync([](Status) {});
    }
    ASSERT_TRUE(SyncWait(*s).ok());
    auto t1 = Clock::now();
    std::printf("append (interval sync, Sync every 100): %.0f msgs/s\n", kMsgs / Seconds(t0, t1));
    ASSERT_TRUE(s->Close().ok());
  }
  auto t0 = Clock::now();
  auto s = OpenFs(dir, SyncMode::kInterval);
  auto t1 = Clock::now();
  std::printf("restart with %llu messages (clean close): %.3f s\n",
              static_cast<unsigned long long>(kMsgs), Seconds(t0, t1));
  auto st = s->State();
  EXPECT_EQ(st.msgs, kMsgs);
  EXPECT_EQ(st.last_seq, kMsgs);
  EXPECT_EQ(st.num_subjects, 1000u);
  EXPECT_EQ(s->Load(777777).value.subject, "bench.777");
  EXPECT_EQ(s->NumPending("bench.5", 1), 1000u);
  ASSERT_TRUE(s->Close().ok());

  // As after a crash: the active block has no index and is scanned.
  auto names = DefaultEnv()->ListDir(dir + "/msgs").value;
  std::string last_idx;
  for (auto& n : names) {
    if (n.find(".idx") != std::string::npos && n > last_idx) last_idx = n;
  }
  ASSERT_TRUE(DefaultEnv()->RemoveFile(dir + "/msgs/" + last_idx).ok());
  t0 = Clock::now();
  s = OpenFs(dir, SyncMode::kInterval);
  t1 = Clock::now();
  std::printf("restart with %llu messages (active block scanned): %.3f s\n",
              static_cast<unsigned long long>(kMsgs), Seconds(t0, t1));
  EXPECT_EQ(s->State().msgs, kMsgs);
}

TEST(StorePerf, AppendThroughputAlways) {
  TempDir tmp;
  auto s = OpenFs(tmp.path() + "/a", SyncMode::kAlways);
  constexpr int kMsgs = 50'000;
  const std::string payload(128, 'p');
  std::atomic<int> done{0};
  auto t0 = Clock::now();
  // Every publish asks for its own Sync; group commit shares the fsyncs.
  for (int i = 0; i < kMsgs; ++i) {
    ASSERT_TRUE(s->Append("orders.new", "", payload, i).ok());
    s->Sync([&](Status st) {
      EXPECT_TRUE(st.ok());
      done++;
    });
  }
  ASSERT_TRUE(SyncWait(*s).ok());
  auto t1 = Clock::now();
  EXPECT_EQ(done.load(), kMsgs);
  std::printf("append (always sync, Sync per publish, 128 B): %.0f msgs/s\n", kMsgs / Seconds(t0, t1));

  // A lone publisher waiting for each ack pays one fsync per message.
  constexpr int kLone = 200;
  t0 = Clock::now();
  for (int i = 0; i < kLone; ++i) {
    ASSERT_TRUE(s->Append("orders.new", "", payload, i).ok());
    ASSERT_TRUE(SyncWait(*s).ok());
  }
  t1 = Clock::now();
  std::printf("append (always sync, waiting for each ack): %.1f us per publish\n",
              1e6 * Seconds(t0, t1) / kLone);
}

TEST(StorePerf, AppendThroughputMemory) {
  auto s = NewMemStore({});
  constexpr int kMsgs = 1'000'000;
  const std::string payload(16, 'p');
  auto t0 = Clock::now();
  for (int i = 0; i < kMsgs; ++i) ASSERT_TRUE(s->Append("bench.x", "", payload, i).ok());
  auto t1 = Clock::now();
  std::printf("append (memory): %.0f msgs/s\n", kMsgs / Seconds(t0, t1));
  EXPECT_EQ(s->State().msgs, static_cast<uint64_t>(kMsgs));
}

}  // namespace
}  // namespace fjord::store

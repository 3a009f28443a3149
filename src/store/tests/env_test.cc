// The Env helpers and FaultEnv's power-loss model.
#include "store/env.h"

#include <gtest/gtest.h>

#include "store/fault_env.h"
#include "store/tests/store_test_util.h"

namespace fjord::store {
namespace {

using testing::TempDir;

std::string Read(Env* env, const std::string& path) {
  auto r = ReadFileToString(env, path);
  return r.ok() ? r.value : "<" + r.status.msg + ">";
}

TEST(Env, Paths) {
  EXPECT_EQ(ParentDir("a/b/c"), "a/b");
  EXPECT_EQ(ParentDir("/a"), "/");
  EXPECT_EQ(ParentDir("c"), ".");
  EXPECT_EQ(ParentDir("a/b/"), "a");
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
}

TEST(Env, PosixBasics) {
  TempDir tmp;
  Env* env = DefaultEnv();
  std::string d = tmp.path() + "/x/y";
  ASSERT_TRUE(CreateDirsDurably(env, d).ok());
  EXPECT_TRUE(env->IsDir(d));
  auto f = env->Open(d + "/f");
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(f.value->Append("hello").ok());
  ASSERT_TRUE(f.value->Append(" world").ok());
  ASSERT_TRUE(f.value->Write(0, "J").ok());
  ASSERT_TRUE(f.value->Sync().ok());
  char buf[16];
  auto n = f.value->Read(6, 16, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, n.value), "world");
  ASSERT_TRUE(f.value->Truncate(5).ok());
  ASSERT_TRUE(f.value->Append("!").ok());
  EXPECT_EQ(Read(env, d + "/f"), "Jello!");
  EXPECT_EQ(env->OpenExisting(d + "/missing").status.code, Errc::kNotFound);
  ASSERT_TRUE(WriteFileDurably(env, d + "/meta", "v1").ok());
  ASSERT_TRUE(WriteFileDurably(env, d + "/meta", "v2").ok());
  EXPECT_EQ(Read(env, d + "/meta"), "v2");
  EXPECT_EQ(env->ListDir(d).value.size(), 2u);
  ASSERT_TRUE(RemoveDirDurably(env, tmp.path() + "/x").ok());
  EXPECT_FALSE(env->Exists(tmp.path() + "/x"));
  EXPECT_TRUE(env->ListDir(tmp.path()).value.empty());
}

TEST(FaultEnv, PowerLossDropsUnsyncedDataAndEntries) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  std::string root = tmp.path();
  ASSERT_TRUE(CreateDirsDurably(&env, root + "/d").ok());
  {
    auto f = env.Open(root + "/d/synced");
    ASSERT_TRUE(f.value->Append("durable").ok());
    ASSERT_TRUE(f.value->Sync().ok());
    ASSERT_TRUE(f.value->Append("-lost").ok());
  }
  ASSERT_TRUE(env.SyncDir(root + "/d").ok());
  {
    auto f = env.Open(root + "/d/unlisted");  // entry never synced
    ASSERT_TRUE(f.value->Append("x").ok());
    ASSERT_TRUE(f.value->Sync().ok());
  }
  ASSERT_TRUE(env.Rename(root + "/d/synced", root + "/d/renamed").ok());
  ASSERT_TRUE(env.CreateDir(root + "/d/sub").ok());  // parent not synced
  ASSERT_TRUE(WriteFileDurably(&env, root + "/other", "m").ok());
  env.PowerLoss();
  EXPECT_EQ(Read(&env, root + "/d/synced"), "durable");
  EXPECT_FALSE(env.Exists(root + "/d/renamed"));
  EXPECT_FALSE(env.Exists(root + "/d/unlisted"));
  EXPECT_FALSE(env.Exists(root + "/d/sub"));
  EXPECT_EQ(Read(&env, root + "/other"), "m");
}

TEST(FaultEnv, DurableWriteSurvives) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  ASSERT_TRUE(CreateDirsDurably(&env, tmp.path() + "/a/b").ok());
  ASSERT_TRUE(WriteFileDurably(&env, tmp.path() + "/a/b/meta", "v1").ok());
  ASSERT_TRUE(WriteFileDurably(&env, tmp.path() + "/a/b/meta", "v2").ok());
  auto f = env.Open(tmp.path() + "/a/b/meta");
  ASSERT_TRUE(f.value->Append("garbage").ok());
  env.PowerLoss();
  EXPECT_EQ(Read(&env, tmp.path() + "/a/b/meta"), "v2");
  EXPECT_FALSE(env.Exists(tmp.path() + "/a/b/meta.tmp"));
  // Handles from before the power loss are dead.
  EXPECT_EQ(f.value->Append("x").code, Errc::kIo);
}

TEST(FaultEnv, ErrorsCrashTearAndFlip) {
  TempDir tmp;
  FaultEnv env(DefaultEnv(), tmp.path());
  std::string p = tmp.path() + "/f";
  auto f = env.Open(p);
  ASSERT_TRUE(env.SyncDir(tmp.path()).ok());
  ASSERT_TRUE(f.value->Append("0123").ok());
  env.SetNoSpace(true);
  EXPECT_EQ(f.value->Append("abcd").code, Errc::kNoSpace);
  EXPECT_EQ(Read(&env, p), "0123ab");  // a short write
  env.SetNoSpace(false);
  env.SetIoError(true);
  EXPECT_EQ(f.value->Sync().code, Errc::kIo);
  EXPECT_EQ(env.SyncDir(tmp.path()).code, Errc::kIo);
  env.SetIoError(false);
  ASSERT_TRUE(f.value->Truncate(4).ok());
  ASSERT_TRUE(f.value->Sync().ok());
  ASSERT_TRUE(f.value->Append("456789").ok());
  env.TearLastWrite(p, 2);
  ASSERT_TRUE(env.FlipBit(p, 0, 0).ok());
  env.Crash();
  EXPECT_EQ(f.value->Append("x").code, Errc::kIo);
  EXPECT_FALSE(env.Open(p).ok());
  env.PowerLoss();
  EXPECT_EQ(Read(&env, p), "1123" "45");
  EXPECT_GE(env.syncs(), 1u);
}

}  // namespace
}  // namespace fjord::store

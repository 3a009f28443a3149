#include "raft/codec.h"

#include <gtest/gtest.h>

#include <libnuraft/buffer.hxx>
#include <libnuraft/log_entry.hxx>

#include "raft/bytes.h"

namespace fjord::raft {
namespace {

TEST(RaftCodec, RequestRoundTrip) {
  nuraft::req_msg req(7, nuraft::msg_type::append_entries_request, 11, 22, 6, 41, 40);
  req.log_entries().push_back(nuraft::cs_new<nuraft::log_entry>(7, ToBuffer("hello"), nuraft::app_log, 123));
  req.log_entries().push_back(nuraft::cs_new<nuraft::log_entry>(7, ToBuffer(""), nuraft::conf, 0));
  auto back = DecodeRequest(EncodeRequest(req));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->get_term(), 7u);
  EXPECT_EQ(back->get_type(), nuraft::msg_type::append_entries_request);
  EXPECT_EQ(back->get_src(), 11);
  EXPECT_EQ(back->get_dst(), 22);
  EXPECT_EQ(back->get_last_log_term(), 6u);
  EXPECT_EQ(back->get_last_log_idx(), 41u);
  EXPECT_EQ(back->get_commit_idx(), 40u);
  ASSERT_EQ(back->log_entries().size(), 2u);
  auto& e = back->log_entries()[0];
  EXPECT_EQ(e->get_term(), 7u);
  EXPECT_EQ(e->get_val_type(), nuraft::app_log);
  EXPECT_EQ(e->get_timestamp(), 123u);
  EXPECT_EQ(ToString(e->get_buf()), "hello");
  EXPECT_EQ(back->log_entries()[1]->get_val_type(), nuraft::conf);
  EXPECT_EQ(back->log_entries()[1]->get_buf().size(), 0u);
}

TEST(RaftCodec, ResponseRoundTrip) {
  nuraft::resp_msg resp(9, nuraft::msg_type::append_entries_response, 22, 11, 42, true);
  resp.set_next_batch_size_hint_in_bytes(-5);
  resp.set_result_code(nuraft::cmd_result_code::TIMEOUT);
  resp.set_ctx(ToBuffer("ctx"));
  auto back = DecodeResponse(EncodeResponse(resp));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->get_term(), 9u);
  EXPECT_EQ(back->get_type(), nuraft::msg_type::append_entries_response);
  EXPECT_EQ(back->get_src(), 22);
  EXPECT_EQ(back->get_dst(), 11);
  EXPECT_EQ(back->get_next_idx(), 42u);
  EXPECT_TRUE(back->get_accepted());
  EXPECT_EQ(back->get_next_batch_size_hint_in_bytes(), -5);
  EXPECT_EQ(back->get_result_code(), nuraft::cmd_result_code::TIMEOUT);
  ASSERT_TRUE(back->get_ctx());
  EXPECT_EQ(back->get_ctx()->size(), 3u);

  nuraft::resp_msg plain(1, nuraft::msg_type::request_vote_response, 1, 2);
  auto p = DecodeResponse(EncodeResponse(plain));
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->get_accepted());
  EXPECT_FALSE(p->get_ctx());
}

// Every cut of a valid message, and every single-byte change of its length
// fields, is refused or decodes within bounds (ASan checks the reads).
TEST(RaftCodec, MalformedInputIsRefused) {
  nuraft::req_msg req(3, nuraft::msg_type::append_entries_request, 1, 2, 2, 5, 4);
  req.log_entries().push_back(nuraft::cs_new<nuraft::log_entry>(3, ToBuffer("payload"), nuraft::app_log, 9));
  std::string enc = EncodeRequest(req);
  for (size_t n = 0; n < enc.size(); n++) EXPECT_FALSE(DecodeRequest(enc.substr(0, n))) << n;
  EXPECT_FALSE(DecodeRequest(enc + "x"));
  for (size_t i = 0; i < enc.size(); i++) {
    std::string bad = enc;
    bad[i] = static_cast<char>(0xff);
    DecodeRequest(bad);  // must not crash or read out of bounds
  }
  std::string v2 = enc;
  v2[0] = 2;
  EXPECT_FALSE(DecodeRequest(v2));
  nuraft::resp_msg resp(1, nuraft::msg_type::append_entries_response, 1, 2, 3, true);
  resp.set_ctx(ToBuffer("abc"));
  std::string renc = EncodeResponse(resp);
  for (size_t n = 0; n < renc.size(); n++) EXPECT_FALSE(DecodeResponse(renc.substr(0, n))) << n;
}

}  // namespace
}  // namespace fjord::raft

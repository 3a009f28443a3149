// Mirror/source copy engine on memory streams, driven directly: bounded
// catch-up, the origin's sequences and gaps in a mirror, the
// Nats-Stream-Source header, and resuming from stored headers.
#include <map>

#include <gtest/gtest.h>

#include <string>

#include "proto/headers.h"
#include "jetstream/jetstream.h"
#include "jetstream/sourcing.h"
#include "jetstream/stream.h"
#include "server/server.h"

namespace fjord::jetstream {
namespace {

StreamSource Src(std::string name, std::string filter = {}) {
  StreamSource s;
  s.name = std::move(name);
  s.filter_subject = std::move(filter);
  return s;
}

class SourcingTest : public ::testing::Test {
 protected:
  std::shared_ptr<Stream> Add(StreamConfig cfg) {
    cfg.storage = Storage::kMemory;
    EXPECT_FALSE(CheckStreamConfig(&cfg));
    ApiError err;
    auto s = Stream::Open(&js_, cfg, NowNs(), false, &err);
    EXPECT_TRUE(s) << err.description;
    js_.streams()[cfg.name] = s;
    return s;
  }
  std::shared_ptr<Stream> Origin() {
    StreamConfig c;
    c.name = "O";
    c.subjects = {"o.>"};
    return Add(c);
  }
  static StreamConfig Mirror(const std::string& name, const std::string& origin) {
    StreamConfig c;
    c.name = name;
    c.mirror = Src(origin);
    return c;
  }

  // What the JetStream thread does once a group commit returns: copies may
  // read up to here.
  static void Durable(const std::shared_ptr<Stream>& s) { s->NoteDurable(s->store().State().last_seq); }

  server::Server srv_{server::Config{}};
  JetStream js_{&srv_, &srv_.global_account(), Options{}};
};

TEST_F(SourcingTest, ParsesSourceHeader) {
  std::string_view name;
  uint64_t seq = 0;
  ASSERT_TRUE(ParseStreamSourceHeader("ORDERS 12", &name, &seq));
  EXPECT_EQ(name, "ORDERS");
  EXPECT_EQ(seq, 12u);
  // Later servers append the filter and transform.
  ASSERT_TRUE(ParseStreamSourceHeader("ORDERS 7 o.> >", &name, &seq));
  EXPECT_EQ(seq, 7u);
  EXPECT_FALSE(ParseStreamSourceHeader("ORDERS", &name, &seq));
  EXPECT_FALSE(ParseStreamSourceHeader("ORDERS x", &name, &seq));
  EXPECT_FALSE(ParseStreamSourceHeader(" 3", &name, &seq));
}

TEST_F(SourcingTest, MirrorKeepsSequencesAndCatchesUpInBoundedSteps) {
  auto o = Origin();
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(o->store().Append("o.a", "", "m" + std::to_string(i), 1000 + i).ok());
  ASSERT_TRUE(o->store().Remove(4, false).ok());
  Durable(o);
  auto m = Add(Mirror("M", "O"));
  ASSERT_TRUE(m->sourcing());
  // Three messages a pass: the 10 sequences take several passes.
  EXPECT_EQ(m->sourcing()->Pump(3, NowNs()), 3u);
  EXPECT_EQ(m->store().State().last_seq, 3u);
  while (m->sourcing()->Pump(3, NowNs()) > 0) {
  }
  auto st = m->store().State();
  EXPECT_EQ(st.last_seq, 10u);
  EXPECT_EQ(st.msgs, 9u);
  EXPECT_FALSE(m->store().Load(4).ok());
  auto msg = m->store().Load(7);
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg.value.data, "m7");
  EXPECT_EQ(msg.value.ts, 1007);
  Json info;
  m->sourcing()->AddInfo(&info, NowNs());
  EXPECT_EQ(info["mirror"]["lag"], 0);
  EXPECT_GE(info["mirror"]["active"].get<int64_t>(), 0);
}

TEST_F(SourcingTest, MirrorWithoutOriginWaitsAndReportsIt) {
  auto m = Add(Mirror("M", "NONE"));
  EXPECT_EQ(m->sourcing()->Pump(100, NowNs()), 0u);
  Json info;
  m->sourcing()->AddInfo(&info, NowNs());
  EXPECT_EQ(info["mirror"]["active"], -1);
  EXPECT_EQ(info["mirror"]["error"]["err_code"], 10059);
}

TEST_F(SourcingTest, SourceAddsHeaderFiltersAndResumesFromIt) {
  auto o = Origin();
  for (int i = 1; i <= 6; ++i)
    ASSERT_TRUE(o->store().Append(i % 2 ? "o.odd" : "o.even", "", std::to_string(i), NowNs()).ok());
  Durable(o);
  StreamConfig c;
  c.name = "S";
  c.subjects = {"s.>"};
  c.sources = {Src("O", "o.odd")};
  auto s = Add(c);
  s->sourcing()->Pump(100, NowNs());
  ASSERT_EQ(s->store().State().msgs, 3u);
  auto m = s->store().Load(2);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.value.subject, "o.odd");
  EXPECT_EQ(m.value.hdr, "NATS/1.0\r\nNats-Stream-Source: O 3 o.odd > o.odd\r\n\r\n");

  // A fresh engine (as after a restart) resumes after the last header.
  ASSERT_TRUE(o->store().Append("o.odd", "", "7", NowNs()).ok());
  Durable(o);
  Sourcing again(s.get());
  again.Pump(100, NowNs());
  EXPECT_EQ(s->store().State().msgs, 4u);
  auto last = s->store().Load(4);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(proto::GetHeader(last.value.hdr, "Nats-Stream-Source"), "O 7 o.odd > o.odd");
}

TEST_F(SourcingTest, SubjectTransformsRenameAndTwoSourcesOfOneStreamKeepTheirOwnPositions) {
  auto o = Origin();
  for (int i = 1; i <= 6; ++i)
    ASSERT_TRUE(o->store().Append(i % 2 ? "o.odd" : "o.even", "", std::to_string(i), NowNs()).ok());
  Durable(o);
  StreamConfig c;
  c.name = "S";
  c.subjects = {"s.>"};
  StreamSource odd = Src("O");
  odd.subject_transforms = {{"o.odd", "s.renamed"}};
  StreamSource even = Src("O", "o.even");
  c.sources = {odd, even};
  ASSERT_FALSE(CheckStreamConfig(&c));
  auto s = Add(c);
  s->sourcing()->Pump(100, NowNs());
  ASSERT_EQ(s->store().State().msgs, 6u);
  std::map<std::string, int> subjects;
  for (uint64_t q = 1; q <= 6; ++q) ++subjects[s->store().Load(q).value.subject];
  EXPECT_EQ(subjects, (std::map<std::string, int>{{"s.renamed", 3}, {"o.even", 3}}));

  // Each resumes from its own headers, not the other's.
  ASSERT_TRUE(o->store().Append("o.even", "", "8", NowNs()).ok());
  Durable(o);
  Sourcing again(s.get());
  again.Pump(100, NowNs());
  ASSERT_EQ(s->store().State().msgs, 7u);
  EXPECT_EQ(proto::GetHeader(s->store().Load(7).value.hdr, "Nats-Stream-Source"), "O 7 o.even > o.even");
}

TEST_F(SourcingTest, ResumesFromTheOlderTwoFieldHeader) {
  // Streams written before 2.10's header form carry "<origin> <seq>".
  auto o = Origin();
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(o->store().Append("o.a", "", "x", NowNs()).ok());
  Durable(o);
  StreamConfig c;
  c.name = "S";
  c.subjects = {"s.>"};
  c.sources = {Src("O", "o.a")};
  auto s = Add(c);
  ASSERT_TRUE(s->store().Append("o.a", "NATS/1.0\r\nNats-Stream-Source: O 3\r\n\r\n", "x", NowNs()).ok());
  Sourcing again(s.get());
  again.Pump(100, NowNs());
  ASSERT_EQ(s->store().State().msgs, 2u);
  EXPECT_EQ(proto::GetHeader(s->store().Load(2).value.hdr, "Nats-Stream-Source"), "O 4 o.a > o.a");
}

TEST_F(SourcingTest, ResumeLooksBackPastManyOwnMessages) {
  auto o = Origin();
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(o->store().Append("o.a", "", "x", NowNs()).ok());
  Durable(o);
  StreamConfig c;
  c.name = "S";
  c.subjects = {"s.>"};
  c.sources = {Src("O")};
  auto s = Add(c);
  s->sourcing()->Pump(100, NowNs());
  // More own publishes after the last sourced message than one backward
  // window (4096) holds.
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(s->store().Append("s.own", "", "y", NowNs()).ok());
  ASSERT_TRUE(o->store().Append("o.a", "", "11", NowNs()).ok());
  Durable(o);
  Sourcing again(s.get());
  again.Pump(100, NowNs());
  auto st = s->store().State();
  EXPECT_EQ(st.msgs, 5011u);
  auto last = s->store().Load(st.last_seq);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(proto::GetHeader(last.value.hdr, "Nats-Stream-Source"), "O 11 > > o.a");
}

TEST_F(SourcingTest, CopiesNothingTheOriginHasNotMadeDurable) {
  auto o = Origin();
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(o->store().Append("o.a", "", std::to_string(i), NowNs()).ok());
  o->NoteDurable(6);  // the fsync covering 7..10 has not returned yet
  auto m = Add(Mirror("M", "O"));
  StreamConfig c;
  c.name = "S";
  c.subjects = {"s.>"};
  c.sources = {Src("O")};
  auto s = Add(c);
  while (m->sourcing()->Pump(100, NowNs()) > 0) {
  }
  while (s->sourcing()->Pump(100, NowNs()) > 0) {
  }
  EXPECT_EQ(m->store().State().last_seq, 6u);
  EXPECT_EQ(s->store().State().msgs, 6u);
  Json info;
  m->sourcing()->AddInfo(&info, NowNs());
  EXPECT_EQ(info["mirror"]["lag"], 4);  // still owed, not lost
  o->NoteDurable(5);                     // the watermark never goes back
  EXPECT_EQ(o->durable_last_seq(), 6u);
  Durable(o);
  while (m->sourcing()->Pump(100, NowNs()) > 0) {
  }
  while (s->sourcing()->Pump(100, NowNs()) > 0) {
  }
  EXPECT_EQ(m->store().State().last_seq, 10u);
  EXPECT_EQ(s->store().State().msgs, 10u);
}

TEST_F(SourcingTest, SourcedMessagesAreDedupedAndHeldBackByDiscardNew) {
  auto o = Origin();
  auto id = [](int i) { return "NATS/1.0\r\nNats-Msg-Id: id" + std::to_string(i) + "\r\n\r\n"; };
  for (int i = 1; i <= 6; ++i) ASSERT_TRUE(o->store().Append("o.a", id(i % 3), "x", NowNs()).ok());
  Durable(o);
  StreamConfig c;
  c.name = "S";
  c.subjects = {"s.>"};
  c.sources = {Src("O")};
  c.discard = Discard::kNew;
  c.max_msgs = 2;
  auto s = Add(c);
  while (s->sourcing()->Pump(100, NowNs()) > 0) {
  }
  // Ids 1, 2, 0 repeat after three messages: at most three distinct; the
  // limit of two holds the third back rather than dropping it.
  EXPECT_EQ(s->store().State().msgs, 2u);
  ASSERT_TRUE(s->store().Remove(1, false).ok());
  while (s->sourcing()->Pump(100, NowNs()) > 0) {
  }
  auto st = s->store().State();
  EXPECT_EQ(st.msgs, 2u);
  auto last = s->store().Load(st.last_seq);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(proto::GetHeader(last.value.hdr, "Nats-Msg-Id"), "id0");
  EXPECT_EQ(proto::GetHeader(last.value.hdr, "Nats-Stream-Source"), "O 3 > > o.a");
  // The rest (ids 1, 2, 0 again) are duplicates: skipped, the copy moves on.
  ASSERT_TRUE(s->store().Remove(2, false).ok());
  ASSERT_TRUE(o->store().Append("o.a", id(7), "x", NowNs()).ok());
  Durable(o);
  while (s->sourcing()->Pump(100, NowNs()) > 0) {
  }
  last = s->store().Load(s->store().State().last_seq);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(proto::GetHeader(last.value.hdr, "Nats-Stream-Source"), "O 7 > > o.a");
  EXPECT_EQ(s->store().State().msgs, 2u);
}

TEST_F(SourcingTest, ConfigRules) {
  StreamConfig c = Mirror("M", "O");
  c.subjects = {"m"};
  EXPECT_EQ(CheckStreamConfig(&c)->err_code, 10034);
  c = Mirror("M", "O");
  c.sources = {Src("X")};
  EXPECT_EQ(CheckStreamConfig(&c)->err_code, 10031);
  c = Mirror("M", "O");
  c.first_seq = 5;
  EXPECT_EQ(CheckStreamConfig(&c)->err_code, 10143);
  c = Mirror("M", "O");
  ASSERT_FALSE(CheckStreamConfig(&c));
  EXPECT_TRUE(c.subjects.empty());
  EXPECT_EQ(ToJson(c)["mirror"], Json({{"name", "O"}}));
  StreamConfig s;
  s.name = "S";
  s.sources = {Src("A"), Src("A")};
  EXPECT_EQ(CheckStreamConfig(&s)->err_code, 10140);
  // 2.10: one stream sourced twice with different filters is fine.
  s.sources = {Src("A", "a.x"), Src("A", "a.y")};
  EXPECT_FALSE(CheckStreamConfig(&s));
  // Subject transforms (10144-10152).
  StreamSource tr = Src("A");
  tr.subject_transforms = {{"a.*", "b.$1"}, {"c.>", ""}};
  s.sources = {tr};
  EXPECT_FALSE(CheckStreamConfig(&s));
  EXPECT_EQ(s.sources[0].IndexName(), "A a.*\fc.> b.$1\f>");
  tr.filter_subject = "a.x";
  s.sources = {tr};
  EXPECT_EQ(CheckStreamConfig(&s)->err_code, 10144);
  tr.filter_subject.clear();
  tr.subject_transforms = {{"a.*", "b.$2"}};
  s.sources = {tr};
  EXPECT_EQ(CheckStreamConfig(&s)->err_code, 10146);
  tr.subject_transforms = {{"a..", "b"}};
  s.sources = {tr};
  EXPECT_EQ(CheckStreamConfig(&s)->err_code, 10145);
  tr.subject_transforms = {{"a.*", ""}, {"a.b", ""}};
  s.sources = {tr};
  EXPECT_EQ(CheckStreamConfig(&s)->err_code, 10147);
  c = Mirror("M", "O");
  c.mirror->subject_transforms = {{"a.>", ""}, {">", ""}};
  EXPECT_EQ(CheckStreamConfig(&c)->err_code, 10152);
  c = Mirror("M", "O");
  c.mirror->filter_subject = "a";
  c.mirror->subject_transforms = {{"a.>", ""}};
  EXPECT_EQ(CheckStreamConfig(&c)->err_code, 10150);
  StreamConfig st;
  st.name = "ST";
  st.subject_transform = SubjectTransformConfig{"st.*", "x.{{bogus(1)}}"};
  EXPECT_EQ(CheckStreamConfig(&st)->err_code, 10049);
  st.subject_transform = SubjectTransformConfig{"st.*", "x.{{partition(3,1)}}"};
  EXPECT_FALSE(CheckStreamConfig(&st));
  StreamConfig t;
  EXPECT_EQ(ParseStreamConfig(nlohmann::json::parse(R"({"name":"T","mirror":{"name":"O","external":{"api":"$JS.x.API"}}})"), &t)->err_code,
            10052);
}

}  // namespace
}  // namespace fjord::jetstream

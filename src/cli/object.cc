// `fjord object ...`: an Object Store client. libnats 3.4 has no object
// store, so this follows the wire layout the other clients use
// (shared/spec/kv-objstore.md §3): stream OBJ_<bucket>, chunks on
// $O.<bucket>.C.<nuid>, metadata (ObjectInfo JSON) on
// $O.<bucket>.M.<base64url(name)>, replaced with a `Nats-Rollup: sub`.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <openssl/sha.h>

#include "base/base64.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "cli/view.h"

namespace fjord::cli {
namespace {

constexpr int64_t kDefaultChunk = 128 * 1024;

std::string StreamName(const std::string& bucket) { return "OBJ_" + bucket; }
std::string MetaSubject(const std::string& bucket, const std::string& name) {
  return "$O." + bucket + ".M." + base64::Encode(name, /*url=*/true);
}
std::string ChunkSubject(const std::string& bucket, const std::string& nuid) {
  return "$O." + bucket + ".C." + nuid;
}

std::string Digest(const std::string& data) {
  unsigned char sum[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), sum);
  return "SHA-256=" + base64::Encode(std::string_view(reinterpret_cast<const char*>(sum), sizeof sum), /*url=*/true);
}

// The current ObjectInfo for `name` with its message time in "mtime", or a
// null Json if there is none (never put, or the bucket has no such subject).
Json GetInfo(Conn& conn, const std::string& bucket, const std::string& name) {
  Json resp = conn.ApiNoThrow("STREAM.MSG.GET." + StreamName(bucket),
                              Json{{"last_by_subj", MetaSubject(bucket, name)}});
  if (resp.contains("error")) {
    if (resp["error"].value("err_code", 0) == 10059) Fail("bucket " + bucket + " not found");
    return Json();
  }
  Json info = Json::parse(base64::Decode(resp["message"].value("data", "")).value_or(""));
  info["mtime"] = resp["message"].value("time", "");
  return info;
}

// Publishes `info` as the object's metadata, replacing all earlier versions.
void PutMeta(Conn& conn, const std::string& bucket, const std::string& name, const Json& info) {
  std::string body = info.dump();
  natsMsg* m = nullptr;
  natsStatus s = natsMsg_Create(&m, MetaSubject(bucket, name).c_str(), nullptr, body.data(),
                                static_cast<int>(body.size()));
  if (s != NATS_OK) FailNats("invalid metadata message", s);
  MsgPtr msg(m);
  natsMsgHeader_Set(m, "Nats-Rollup", "sub");
  jsPubAck* ack = nullptr;
  s = js_PublishMsg(&ack, conn.js(), m, nullptr, nullptr);
  if (s != NATS_OK) FailNats("could not store the metadata of " + name, s);
  jsPubAck_Destroy(ack);
}

void PurgeChunks(Conn& conn, const std::string& bucket, const std::string& nuid) {
  conn.Api("STREAM.PURGE." + StreamName(bucket), Json{{"filter", ChunkSubject(bucket, nuid)}});
}

void PrintObjectInfo(const Json& info) {
  std::cout << "Object information for " << info.value("bucket", "") << " > " << info.value("name", "") << "\n\n";
  KeyValues kv;
  if (info.contains("description")) kv.Add("Description", info.value("description", ""));
  kv.Add("Size", FormatBytes(info.value("size", uint64_t{0})));
  kv.Add("Modification Time", ShortTime(info.value("mtime", "")));
  kv.Add("Chunks", Commas(info.value("chunks", int64_t{0})));
  kv.Add("Digest", info.value("digest", ""));
  kv.Print(std::cout);
}

void PrintBucket(const Json& info) {
  const Json& c = info["config"];
  const Json& st = info["state"];
  std::string bucket = c.value("name", "").substr(4);
  std::cout << "Information for Object Store Bucket " << bucket << " created "
            << ShortTime(info.value("created", "")) << "\n\n";
  KeyValues kv;
  kv.Add("Bucket Name", bucket);
  if (c.contains("description")) kv.Add("Description", c.value("description", ""));
  kv.Add("Size", FormatBytes(st.value("bytes", uint64_t{0})));
  kv.Add("Maximum Bucket Size", LimitBytes(c.value("max_bytes", int64_t{-1})));
  kv.Add("Maximum Age", LimitDuration(c.value("max_age", int64_t{0})));
  kv.Add("Sealed", c.value("sealed", false) ? "true" : "false");
  kv.Add("Backing Store Kind", "JetStream");
  kv.Add("JetStream Stream", c.value("name", ""));
  kv.Add("Storage", Capitalize(c.value("storage", "file")));
  kv.Print(std::cout);
}

void AddCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, ttl, max_bucket_size = "-1", storage = "file", description;
    int replicas = 1;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("add", "Create an object store bucket")->alias("new")->alias("create");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("--ttl", o->ttl, "How long to keep objects (e.g. 1d)");
  cmd->add_option("--max-bucket-size", o->max_bucket_size, "Maximum size of the bucket");
  cmd->add_option("--storage", o->storage, "Storage backend (file, memory)")
      ->check(CLI::IsMember({"file", "memory"}));
  cmd->add_option("--replicas", o->replicas, "How many replicas of the data to store");
  cmd->add_option("--description", o->description, "A description of the bucket");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    for (char c : o->bucket) {
      if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') Fail("invalid bucket name " + o->bucket);
    }
    Json cfg{{"name", StreamName(o->bucket)},
             {"subjects", {"$O." + o->bucket + ".C.>", "$O." + o->bucket + ".M.>"}},
             {"retention", "limits"},
             {"max_consumers", -1},
             {"max_msgs", -1},
             {"max_bytes", ParseSize(o->max_bucket_size)},
             {"max_age", o->ttl.empty() ? 0 : ParseDuration(o->ttl)},
             {"max_msgs_per_subject", -1},
             {"max_msg_size", -1},
             {"storage", o->storage},
             {"discard", "new"},
             {"num_replicas", o->replicas},
             {"allow_rollup_hdrs", true},
             {"allow_direct", true}};
    if (!o->description.empty()) cfg["description"] = o->description;
    Conn conn(g);
    Json resp = conn.Api("STREAM.CREATE." + StreamName(o->bucket), cfg);
    if (o->json) return PrintJson(resp);
    PrintBucket(resp);
  });
}

void PutCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, file, name, description;
    int64_t chunk = kDefaultChunk;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("put", "Put a file into a bucket");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("file", o->file, "File to store ('-' or omitted: stdin, needs --name)");
  cmd->add_option("--name", o->name, "Object name (default: the file name)");
  cmd->add_option("--description", o->description, "A description of the object");
  cmd->add_option("--chunk-size", o->chunk, "Chunk size in bytes")->check(CLI::Range(int64_t{1}, int64_t{1} << 26));
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    std::string data;
    if (o->file.empty() || o->file == "-") {
      if (o->name.empty()) Fail("--name is required when reading from stdin");
      data = ReadAllStdin();
    } else {
      std::ifstream in(o->file, std::ios::binary);
      if (!in) Fail("cannot read " + o->file);
      data.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (o->name.empty()) o->name = o->file;
    }
    Conn conn(g);
    Json old = GetInfo(conn, o->bucket, o->name);
    std::string nuid = NewNuid();
    std::string subject = ChunkSubject(o->bucket, nuid);
    int64_t chunks = 0;
    for (size_t off = 0; off < data.size(); off += static_cast<size_t>(o->chunk)) {
      size_t len = std::min(data.size() - off, static_cast<size_t>(o->chunk));
      jsPubAck* ack = nullptr;
      natsStatus s = js_Publish(&ack, conn.js(), subject.c_str(), data.data() + off, static_cast<int>(len),
                                nullptr, nullptr);
      if (s != NATS_OK) {
        std::string why = natsStatus_GetText(s);
        PurgeChunks(conn, o->bucket, nuid);
        Fail("could not store a chunk of " + o->name + ": " + why);
      }
      jsPubAck_Destroy(ack);
      chunks++;
    }
    Json info{{"name", o->name}};
    if (!o->description.empty()) info["description"] = o->description;
    info["options"] = Json{{"max_chunk_size", o->chunk}};
    info["bucket"] = o->bucket;
    info["nuid"] = nuid;
    info["size"] = data.size();
    info["mtime"] = "0001-01-01T00:00:00Z";
    info["chunks"] = chunks;
    info["digest"] = Digest(data);
    PutMeta(conn, o->bucket, o->name, info);
    if (!old.is_null() && old.value("nuid", "") != nuid && !old.value("nuid", "").empty()) {
      PurgeChunks(conn, o->bucket, old.value("nuid", ""));
    }
    Json stored = GetInfo(conn, o->bucket, o->name);
    if (o->json) return PrintJson(stored);
    PrintObjectInfo(stored);
  });
}

void GetCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, name, output;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("get", "Get an object from a bucket");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("name", o->name, "Object name")->required();
  cmd->add_option("-O,--output", o->output, "Write to this file ('-' for stdout; default: the object name)");
  cmd->add_flag("-f,--force", o->force, "Overwrite an existing output file");
  cmd->callback([&g, o] {
    Conn conn(g);
    Json info = GetInfo(conn, o->bucket, o->name);
    if (info.is_null() || info.value("deleted", false)) Fail("object " + o->name + " not found");
    std::string subject = ChunkSubject(o->bucket, info.value("nuid", ""));
    std::string data;
    uint64_t seq = 0;
    for (int64_t i = 0; i < info.value("chunks", int64_t{0}); i++) {
      Json resp = conn.Api("STREAM.MSG.GET." + StreamName(o->bucket),
                           Json{{"next_by_subj", subject}, {"seq", seq + 1}});
      seq = resp["message"].value("seq", uint64_t{0});
      data += base64::Decode(resp["message"].value("data", "")).value_or("");
    }
    if (data.size() != info.value("size", uint64_t{0})) {
      Fail(fmt::format("object {} is incomplete: got {} of {} bytes", o->name, data.size(),
                       info.value("size", uint64_t{0})));
    }
    if (!info.value("digest", "").empty() && Digest(data) != info.value("digest", "")) {
      Fail("object " + o->name + " failed its digest check");
    }
    std::string out = o->output.empty() ? o->name.substr(o->name.find_last_of('/') + 1) : o->output;
    if (out == "-") {
      std::cout << data << std::flush;
      return;
    }
    if (!o->force && std::ifstream(out).good()) Fail(out + " exists, use --force to overwrite");
    std::ofstream f(out, std::ios::binary | std::ios::trunc);
    f << data;
    if (!f) Fail("cannot write " + out);
    std::cerr << fmt::format("Wrote: {} to {}\n", FormatBytes(data.size()), out);
  });
}

void LsCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket;
    bool json = false, names = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("ls", "List buckets, or the objects in one bucket")->alias("list");
  cmd->add_option("bucket", o->bucket, "Bucket whose objects to list");
  cmd->add_flag("-n,--names", o->names, "Show just the names");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    if (o->bucket.empty()) {
      Json resp = conn.Api("STREAM.LIST", Json{{"subject", "$O.*.>"}});
      Json buckets = Json::array();
      for (const auto& s : resp["streams"]) {
        if (s["config"].value("name", "").rfind("OBJ_", 0) == 0) buckets.push_back(s);
      }
      if (o->json) return PrintJson(buckets);
      if (o->names) {
        for (const auto& b : buckets) std::cout << b["config"].value("name", "").substr(4) << "\n";
        return;
      }
      if (buckets.empty()) {
        std::cout << "No Object Store buckets found\n";
        return;
      }
      Table t("Object Store Buckets");
      t.Header({"Bucket", "Description", "Created", "Size", "Last Update"});
      for (const auto& b : buckets) {
        t.Row({b["config"].value("name", "").substr(4), b["config"].value("description", ""),
               ShortTime(b.value("created", "")), FormatBytes(b["state"].value("bytes", uint64_t{0})),
               ShortTime(b["state"].value("last_ts", ""))});
      }
      t.Print(std::cout);
      return;
    }
    Json si = conn.ApiNoThrow("STREAM.INFO." + StreamName(o->bucket),
                              Json{{"subjects_filter", "$O." + o->bucket + ".M.>"}});
    if (si.contains("error")) Fail("bucket " + o->bucket + " not found");
    Json objects = Json::array();
    if (si["state"].contains("subjects")) {
      for (const auto& [subject, count] : si["state"]["subjects"].items()) {
        std::string name = base64::Decode(subject.substr(subject.find(".M.") + 3)).value_or("");
        Json info = GetInfo(conn, o->bucket, name);
        if (!info.is_null() && !info.value("deleted", false)) objects.push_back(info);
      }
    }
    if (o->json) return PrintJson(objects);
    if (o->names) {
      for (const auto& i : objects) std::cout << i.value("name", "") << "\n";
      return;
    }
    if (objects.empty()) {
      std::cout << "No entries found\n";
      return;
    }
    Table t("Bucket Contents");
    t.Header({"Name", "Size", "Time"});
    for (const auto& i : objects) {
      t.Row({i.value("name", ""), FormatBytes(i.value("size", uint64_t{0})), ShortTime(i.value("mtime", ""))});
    }
    t.Print(std::cout);
  });
}

void InfoCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, name;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("info", "Bucket or object information");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("name", o->name, "Object name");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    if (o->name.empty()) {
      Json resp = conn.ApiNoThrow("STREAM.INFO." + StreamName(o->bucket));
      if (resp.contains("error")) Fail("bucket " + o->bucket + " not found");
      if (o->json) return PrintJson(resp);
      return PrintBucket(resp);
    }
    Json info = GetInfo(conn, o->bucket, o->name);
    if (info.is_null() || info.value("deleted", false)) Fail("object " + o->name + " not found");
    if (o->json) return PrintJson(info);
    PrintObjectInfo(info);
  });
}

void RmCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, name;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("rm", "Remove an object, or with no name the whole bucket")->alias("del");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("name", o->name, "Object name");
  cmd->add_flag("-f,--force", o->force, "Remove without prompting");
  cmd->callback([&g, o] {
    if (o->name.empty()) {
      RequireForce(o->force, "Really remove bucket " + o->bucket);
      Conn conn(g);
      Json resp = conn.ApiNoThrow("STREAM.DELETE." + StreamName(o->bucket));
      if (resp.contains("error")) Fail("bucket " + o->bucket + " not found");
      std::cout << "Bucket " << o->bucket << " was removed\n";
      return;
    }
    RequireForce(o->force, "Really remove object " + o->bucket + " > " + o->name);
    Conn conn(g);
    Json info = GetInfo(conn, o->bucket, o->name);
    if (info.is_null() || info.value("deleted", false)) Fail("object " + o->name + " not found");
    std::string nuid = info.value("nuid", "");
    info.erase("mtime");
    info["size"] = 0;
    info["chunks"] = 0;
    info["digest"] = "";
    info["deleted"] = true;
    info["mtime"] = "0001-01-01T00:00:00Z";
    PutMeta(conn, o->bucket, o->name, info);
    if (!nuid.empty()) PurgeChunks(conn, o->bucket, nuid);
    std::cout << "Removed " << o->bucket << " > " << o->name << "\n";
  });
}

}  // namespace

void AddObjectCommands(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("object", "Object store operations")->alias("obj");
  cmd->require_subcommand(1);
  AddCmd(*cmd, g);
  PutCmd(*cmd, g);
  GetCmd(*cmd, g);
  LsCmd(*cmd, g);
  InfoCmd(*cmd, g);
  RmCmd(*cmd, g);
}

}  // namespace fjord::cli

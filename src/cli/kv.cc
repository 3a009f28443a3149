// `fjord kv ...`: Key-Value buckets through libnats' kvStore API; bucket
// listing and `--json` status use raw `$JS.API.STREAM.*` answers.
#include <ctime>
#include <iostream>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/table.h"
#include "cli/view.h"

namespace fjord::cli {
namespace {

struct KvDeleter {
  void operator()(kvStore* kv) const { kvStore_Destroy(kv); }
};
using KvPtr = std::unique_ptr<kvStore, KvDeleter>;
struct EntryDeleter {
  void operator()(kvEntry* e) const { kvEntry_Destroy(e); }
};
using EntryPtr = std::unique_ptr<kvEntry, EntryDeleter>;

KvPtr Bind(Conn& conn, const std::string& bucket) {
  kvStore* kv = nullptr;
  natsStatus s = js_KeyValue(&kv, conn.js(), bucket.c_str());
  if (s == NATS_NOT_FOUND) Fail("bucket " + bucket + " not found");
  if (s != NATS_OK) FailNats("could not open bucket " + bucket, s);
  return KvPtr(kv);
}

std::string OpName(kvOperation op) {
  switch (op) {
    case kvOp_Put:
      return "PUT";
    case kvOp_Delete:
      return "DEL";
    case kvOp_Purge:
      return "PURGE";
    default:
      return "UNKNOWN";
  }
}

std::string NsTime(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string Value(kvEntry* e) {
  return std::string(static_cast<const char*>(kvEntry_Value(e)), static_cast<size_t>(kvEntry_ValueLen(e)));
}

void PrintBucketInfo(const Json& info) {
  const Json& c = info["config"];
  const Json& st = info["state"];
  std::string name = c.value("name", "");
  std::string bucket = name.rfind("KV_", 0) == 0 ? name.substr(3) : name;
  std::cout << "Information for Key-Value Store Bucket " << bucket << " created "
            << ShortTime(info.value("created", "")) << "\n\n";
  KeyValues kv;
  kv.Section("Configuration:");
  kv.Add("Bucket Name", bucket);
  if (c.contains("description")) kv.Add("Description", c.value("description", ""));
  kv.Add("History Kept", std::to_string(c.value("max_msgs_per_subject", int64_t{1})));
  kv.Add("Values Stored", Commas(st.value("messages", int64_t{0})));
  kv.Add("Backing Store Kind", "JetStream");
  kv.Add("Bucket Size", FormatBytes(st.value("bytes", uint64_t{0})));
  kv.Add("Maximum Bucket Size", LimitBytes(c.value("max_bytes", int64_t{-1})));
  kv.Add("Maximum Value Size", LimitBytes(c.value("max_msg_size", int64_t{-1})));
  kv.Add("Maximum Age", LimitDuration(c.value("max_age", int64_t{0})));
  kv.Add("JetStream Stream", name);
  kv.Add("Storage", Capitalize(c.value("storage", "file")));
  kv.Print(std::cout);
}

void AddCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, ttl, max_value_size = "-1", max_bucket_size = "-1", storage = "file", description;
    int history = 1, replicas = 1;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("add", "Create a Key-Value bucket")->alias("new");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("--history", o->history, "How many historic values to keep per key")->check(CLI::Range(1, 64));
  cmd->add_option("--ttl", o->ttl, "How long to keep values (e.g. 1h)");
  cmd->add_option("--replicas", o->replicas, "How many replicas of the data to store");
  cmd->add_option("--max-value-size", o->max_value_size, "Maximum size of a single value");
  cmd->add_option("--max-bucket-size", o->max_bucket_size, "Maximum size of the bucket");
  cmd->add_option("--storage", o->storage, "Storage backend (file, memory)")
      ->check(CLI::IsMember({"file", "memory"}));
  cmd->add_option("--description", o->description, "A description of the bucket");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = o->bucket.c_str();
    if (!o->description.empty()) cfg.Description = o->description.c_str();
    cfg.History = static_cast<uint8_t>(o->history);
    cfg.TTL = o->ttl.empty() ? 0 : ParseDuration(o->ttl);
    cfg.MaxValueSize = static_cast<int32_t>(ParseSize(o->max_value_size));
    cfg.MaxBytes = ParseSize(o->max_bucket_size);
    cfg.StorageType = o->storage == "memory" ? js_MemoryStorage : js_FileStorage;
    cfg.Replicas = o->replicas;
    kvStore* kv = nullptr;
    natsStatus s = js_CreateKeyValue(&kv, conn.js(), &cfg);
    if (s != NATS_OK) FailNats("could not create bucket " + o->bucket, s);
    kvStore_Destroy(kv);
    Json info = conn.Api("STREAM.INFO.KV_" + o->bucket);
    if (o->json) return PrintJson(info);
    PrintBucketInfo(info);
  });
}

void InfoCmd(CLI::App& parent, GlobalOptions& g) {
  auto bucket = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = parent.add_subcommand("info", "Key-Value bucket information")->alias("status");
  cmd->add_option("bucket", *bucket, "Bucket name")->required();
  cmd->add_flag("-j,--json", *json, "Produce JSON output");
  cmd->callback([&g, bucket, json] {
    Conn conn(g);
    Json resp = conn.ApiNoThrow("STREAM.INFO.KV_" + *bucket);
    if (resp.contains("error")) Fail("bucket " + *bucket + " not found");
    if (*json) return PrintJson(resp);
    PrintBucketInfo(resp);
  });
}

// put, create (only if the key has no value) and update (only if the last
// revision matches) differ only in the libnats call.
void WriteCmd(CLI::App& parent, GlobalOptions& g, const std::string& name, const std::string& help) {
  struct Opts {
    std::string bucket, key, value;
    uint64_t revision = 0;
    CLI::Option* value_opt = nullptr;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand(name, help);
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("key", o->key, "Key")->required();
  o->value_opt = cmd->add_option("value", o->value, "Value (read from stdin when omitted)");
  if (name == "update") cmd->add_option("revision", o->revision, "Revision the key must have")->required();
  cmd->callback([&g, o, name] {
    if (o->value_opt->count() == 0) {
      if (Interactive()) o->value = Prompt("Value");
      else o->value = ReadAllStdin();
    }
    Conn conn(g);
    KvPtr kv = Bind(conn, o->bucket);
    uint64_t rev = 0;
    const char* key = o->key.c_str();
    int len = static_cast<int>(o->value.size());
    natsStatus s = name == "create"   ? kvStore_Create(&rev, kv.get(), key, o->value.data(), len)
                   : name == "update" ? kvStore_Update(&rev, kv.get(), key, o->value.data(), len, o->revision)
                                      : kvStore_Put(&rev, kv.get(), key, o->value.data(), len);
    if (s != NATS_OK && name == "create" && std::string(nats_GetLastError(nullptr)).find("wrong last sequence") !=
                                                    std::string::npos) {
      Fail("could not create " + o->key + ": key exists");
    }
    if (s != NATS_OK) FailNats("could not " + name + " " + o->key, s);
    std::cout << o->value << std::endl;
  });
}

void PurgeCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, key;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("purge", "Remove a key and all its history");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("key", o->key, "Key")->required();
  cmd->add_flag("-f,--force", o->force, "Purge without prompting");
  cmd->callback([&g, o] {
    RequireForce(o->force, "Really purge key " + o->bucket + " > " + o->key);
    Conn conn(g);
    KvPtr kv = Bind(conn, o->bucket);
    natsStatus s = kvStore_Purge(kv.get(), o->key.c_str(), nullptr);
    if (s != NATS_OK) FailNats("could not purge " + o->key, s);
    std::cout << "Purged key " << o->bucket << " > " << o->key << "\n";
  });
}

void GetCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, key;
    uint64_t revision = 0;
    bool raw = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("get", "Get a value from a bucket");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("key", o->key, "Key")->required();
  cmd->add_option("--revision", o->revision, "Get a specific revision");
  cmd->add_flag("-r,--raw", o->raw, "Show only the value");
  cmd->callback([&g, o] {
    Conn conn(g);
    KvPtr kv = Bind(conn, o->bucket);
    kvEntry* e = nullptr;
    natsStatus s = o->revision != 0 ? kvStore_GetRevision(&e, kv.get(), o->key.c_str(), o->revision)
                                    : kvStore_Get(&e, kv.get(), o->key.c_str());
    if (s == NATS_NOT_FOUND) Fail("key " + o->key + " not found");
    if (s != NATS_OK) FailNats("could not get " + o->key, s);
    EntryPtr entry(e);
    if (o->raw) {
      std::cout << Value(e) << std::flush;
      return;
    }
    std::cout << o->bucket << " > " << o->key << " revision: " << kvEntry_Revision(e) << " created @ "
              << NsTime(kvEntry_Created(e)) << "\n\n"
              << Value(e) << "\n";
  });
}

void DelCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, key;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("del", "Delete a key, or with no key the whole bucket")->alias("delete");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("key", o->key, "Key");
  cmd->add_flag("-f,--force", o->force, "Delete without prompting");
  cmd->callback([&g, o] {
    Conn conn(g);
    if (o->key.empty()) {
      RequireForce(o->force, "Really delete bucket " + o->bucket);
      natsStatus s = js_DeleteKeyValue(conn.js(), o->bucket.c_str());
      if (s != NATS_OK) FailNats("could not delete bucket " + o->bucket, s);
      std::cout << "Bucket " << o->bucket << " was deleted\n";
      return;
    }
    RequireForce(o->force, "Really delete key " + o->bucket + " > " + o->key);
    KvPtr kv = Bind(conn, o->bucket);
    natsStatus s = kvStore_Delete(kv.get(), o->key.c_str());
    if (s != NATS_OK) FailNats("could not delete " + o->key, s);
    std::cout << "Deleted key " << o->bucket << " > " << o->key << "\n";
  });
}

void RmCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket;
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("rm", "Remove a bucket and all its values");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_flag("-f,--force", o->force, "Remove without prompting");
  cmd->callback([&g, o] {
    RequireForce(o->force, "Really remove bucket " + o->bucket);
    Conn conn(g);
    Json resp = conn.ApiNoThrow("STREAM.DELETE.KV_" + o->bucket);
    if (resp.contains("error")) Fail("bucket " + o->bucket + " not found");
    std::cout << "Bucket " << o->bucket << " was removed\n";
  });
}

void LsCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket;
    bool names = false, json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("ls", "List buckets, or the keys of one bucket")->alias("list");
  cmd->add_option("bucket", o->bucket, "Bucket whose keys to list");
  cmd->add_flag("-n,--names", o->names, "Show just the bucket names");
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    if (!o->bucket.empty()) {
      KvPtr kv = Bind(conn, o->bucket);
      kvKeysList keys;
      kvWatchOptions wo;
      kvWatchOptions_Init(&wo);
      wo.Timeout = g.TimeoutMs();
      natsStatus s = kvStore_Keys(&keys, kv.get(), &wo);
      Json arr = Json::array();
      if (s == NATS_OK) {
        for (int i = 0; i < keys.Count; i++) arr.push_back(keys.Keys[i]);
        kvKeysList_Destroy(&keys);
      } else if (s != NATS_NOT_FOUND) {
        FailNats("could not list keys", s);
      }
      if (o->json) return PrintJson(arr);
      if (arr.empty()) std::cerr << "No keys found in bucket " << o->bucket << "\n";
      for (const auto& k : arr) std::cout << k.get<std::string>() << "\n";
      return;
    }
    Json req{{"subject", "$KV.*.>"}, {"offset", 0}};
    Json resp = conn.Api("STREAM.LIST", req);
    if (!resp["streams"].is_array()) resp["streams"] = Json::array();
    while (resp["streams"].size() < resp.value("total", 0u)) {
      req["offset"] = resp["streams"].size();
      Json next = conn.Api("STREAM.LIST", req);
      if (!next["streams"].is_array() || next["streams"].empty()) break;
      for (auto& s : next["streams"]) resp["streams"].push_back(s);
    }
    Json buckets = Json::array();
    for (const auto& s : resp["streams"]) {
      if (s["config"].value("name", "").rfind("KV_", 0) == 0) buckets.push_back(s);
    }
    if (o->json) return PrintJson(buckets);
    if (o->names) {
      for (const auto& b : buckets) std::cout << b["config"].value("name", "").substr(3) << "\n";
      return;
    }
    if (buckets.empty()) {
      std::cout << "No Key-Value buckets found\n";
      return;
    }
    Table t("Key-Value Buckets");
    t.Header({"Bucket", "Description", "Created", "Size", "Values", "Last Update"});
    for (const auto& b : buckets) {
      const Json& st = b["state"];
      t.Row({b["config"].value("name", "").substr(3), b["config"].value("description", ""),
             ShortTime(b.value("created", "")), FormatBytes(st.value("bytes", uint64_t{0})),
             Commas(st.value("messages", int64_t{0})), ShortTime(st.value("last_ts", ""))});
    }
    t.Print(std::cout);
  });
}

void WatchCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, key = ">";
    int64_t count = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("watch", "Watch a bucket or key for changes");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("key", o->key, "Key or wildcard to watch (default: all)");
  cmd->add_option("--count", o->count, "Exit after this many entries");
  cmd->callback([&g, o] {
    Conn conn(g);
    KvPtr kv = Bind(conn, o->bucket);
    kvWatcher* w = nullptr;
    natsStatus s = kvStore_Watch(&w, kv.get(), o->key.c_str(), nullptr);
    if (s != NATS_OK) FailNats("could not watch " + o->bucket, s);
    std::unique_ptr<kvWatcher, void (*)(kvWatcher*)> guard(w, kvWatcher_Destroy);
    for (int64_t n = 0; o->count == 0 || n < o->count;) {
      kvEntry* e = nullptr;
      s = kvWatcher_Next(&e, w, 3600 * 1000);
      if (s == NATS_TIMEOUT) continue;
      if (s != NATS_OK) FailNats("watch failed", s);
      if (e == nullptr) continue;  // end of the initial values
      EntryPtr entry(e);
      kvOperation op = kvEntry_Operation(e);
      std::cout << "[" << NsTime(kvEntry_Created(e)) << "] " << OpName(op) << " " << o->bucket << " > "
                << kvEntry_Key(e);
      if (op == kvOp_Put) std::cout << ": " << Value(e);
      std::cout << std::endl;
      n++;
    }
  });
}

void HistoryCmd(CLI::App& parent, GlobalOptions& g) {
  struct Opts {
    std::string bucket, key;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = parent.add_subcommand("history", "Show the history of a key");
  cmd->add_option("bucket", o->bucket, "Bucket name")->required();
  cmd->add_option("key", o->key, "Key")->required();
  cmd->add_flag("-j,--json", o->json, "Produce JSON output");
  cmd->callback([&g, o] {
    Conn conn(g);
    KvPtr kv = Bind(conn, o->bucket);
    kvEntryList list;
    kvWatchOptions wo;
    kvWatchOptions_Init(&wo);
    wo.Timeout = g.TimeoutMs();
    natsStatus s = kvStore_History(&list, kv.get(), o->key.c_str(), &wo);
    if (s == NATS_NOT_FOUND) Fail("key " + o->key + " not found");
    if (s != NATS_OK) FailNats("could not get the history of " + o->key, s);
    Json arr = Json::array();
    for (int i = 0; i < list.Count; i++) {
      kvEntry* e = list.Entries[i];
      arr.push_back(Json{{"key", kvEntry_Key(e)},
                         {"revision", kvEntry_Revision(e)},
                         {"operation", OpName(kvEntry_Operation(e))},
                         {"created", NsTime(kvEntry_Created(e))},
                         {"length", kvEntry_ValueLen(e)},
                         {"value", Value(e)}});
    }
    kvEntryList_Destroy(&list);
    if (o->json) return PrintJson(arr);
    Table t("History for " + o->bucket + " > " + o->key);
    t.Header({"Key", "Revision", "Op", "Created", "Length", "Value"});
    for (const auto& r : arr) {
      t.Row({r["key"], std::to_string(r["revision"].get<uint64_t>()), r["operation"], r["created"],
             std::to_string(r["length"].get<int>()), r["value"]});
    }
    t.Print(std::cout);
  });
}

}  // namespace

void AddKvCommands(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand("kv", "Key-Value store operations");
  cmd->require_subcommand(1);
  AddCmd(*cmd, g);
  InfoCmd(*cmd, g);
  WriteCmd(*cmd, g, "put", "Put a value into a bucket");
  WriteCmd(*cmd, g, "create", "Put a value only if the key has none");
  WriteCmd(*cmd, g, "update", "Put a value only if the key is at the given revision");
  PurgeCmd(*cmd, g);
  GetCmd(*cmd, g);
  DelCmd(*cmd, g);
  LsCmd(*cmd, g);
  WatchCmd(*cmd, g);
  HistoryCmd(*cmd, g);
  RmCmd(*cmd, g);
}

}  // namespace fjord::cli

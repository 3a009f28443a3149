// fjord: the operator's command line tool for Fjord (and any NATS server),
// modelled on the official `nats` CLI.
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "fjord_version.h"

int main(int argc, char** argv) {
  using namespace fjord::cli;
  CLI::App app{"Fjord command line tool: streams, consumers, KV and object stores, "
               "publish/subscribe, server checks and benchmarks",
               "fjord"};
  // Global flags may follow the subcommand, as with `nats stream ls -s URL`.
  app.fallthrough();
  app.require_subcommand(1);
  app.set_version_flag("--version", fjord::kFjordVersion);
  GlobalOptions global;
  AddGlobalFlags(app, global);
  AddStreamCommands(app, global);
  AddConsumerCommands(app, global);
  AddPubSubCommands(app, global);
  AddKvCommands(app, global);
  AddObjectCommands(app, global);
  AddServerCommands(app, global);
  AddTopCommand(app, global);
  AddBenchCommand(app, global);

  int rc = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // "A subcommand is required" hides a mistyped command name: name it.
    CLI::App* deepest = &app;
    while (!deepest->get_subcommands().empty()) deepest = deepest->get_subcommands().front();
    std::vector<std::string> rest = deepest->remaining();
    for (CLI::App* a = deepest; rest.empty() && a != nullptr; a = a->get_parent()) rest = a->remaining();
    std::string what = e.what();
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && !rest.empty() && rest[0][0] != '-') {
      what = "unknown command \"" + rest[0] + "\"";
    }
    // CLI11 words a value it cannot convert "Could not convert: NAME = VALUE".
    const std::string conv = "Could not convert: ";
    size_t eq = what.find(" = ");
    if (what.rfind(conv, 0) == 0 && eq != std::string::npos) {
      what = "invalid value \"" + what.substr(eq + 3) + "\" for " + what.substr(conv.size(), eq - conv.size());
    }
    std::cerr << "fjord: error: " << what << ", try --help" << std::endl;
    rc = 1;
  } catch (const CliError& e) {
    if (*e.what() != '\0') std::cerr << "fjord: error: " << e.what() << std::endl;
    rc = e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "fjord: error: " << e.what() << std::endl;
    rc = 1;
  }
  FreeDroppedSubscriptions();
  nats_Close();
  return rc;
}

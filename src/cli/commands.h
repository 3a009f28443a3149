#pragma once
// Each command group registers its subcommands on the root app. The
// GlobalOptions outlive parsing, so command callbacks may keep a reference.
#include "cli/common.h"

namespace fjord::cli {

void AddStreamCommands(CLI::App& app, GlobalOptions& global);
void AddConsumerCommands(CLI::App& app, GlobalOptions& global);
void AddPubSubCommands(CLI::App& app, GlobalOptions& global);
void AddKvCommands(CLI::App& app, GlobalOptions& global);
void AddObjectCommands(CLI::App& app, GlobalOptions& global);
void AddServerCommands(CLI::App& app, GlobalOptions& global);
void AddBenchCommand(CLI::App& app, GlobalOptions& global);
void AddTopCommand(CLI::App& app, GlobalOptions& global);

}  // namespace fjord::cli

/************************************************************************
Modifications Copyright 2017-2019 eBay Inc.
Author/Developer(s): Jung-Sang Ahn

Original Copyright:
See URL: https://github.com/datatechnology/cornerstone

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    https://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
**************************************************************************/

#pragma once

#include "asio_service.hxx"
#include "async.hxx"
#include "basic_types.hxx"
#include "buffer.hxx"
#include "buffer_serializer.hxx"
#include "callback.hxx"
#include "cluster_config.hxx"
#include "context.hxx"
#include "delayed_task_scheduler.hxx"
#include "delayed_task.hxx"
#include "error_code.hxx"
#include "global_mgr.hxx"
#include "log_entry.hxx"
#include "log_store.hxx"
#include "logger.hxx"
#include "ptr.hxx"
#include "raft_params.hxx"
#include "raft_server.hxx"
#include "rpc_cli_factory.hxx"
#include "rpc_cli.hxx"
#include "rpc_listener.hxx"
#include "snapshot.hxx"
#include "srv_config.hxx"
#include "srv_state.hxx"
#include "state_machine.hxx"
#include "state_mgr.hxx"
#include "timer_task.hxx"

#include "launcher.hxx"


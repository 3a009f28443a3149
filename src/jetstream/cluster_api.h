#pragma once
// The clustered side of the `$JS.API` (jetstream/cluster.h says who answers
// what): the meta leader's handlers, the stream assignments applied on the
// server that holds a stream, and the gathering of other servers' stream
// infos for lists and account info. JetStream thread, unless noted.
#include <memory>
#include <string_view>
#include <vector>

#include "jetstream/cluster.h"

namespace fjord::jetstream {

class JetStream;
struct Inbound;

// What a clustered JetStream keeps for the above (JetStream::cluster_).
struct ClusterState;
ClusterState* StartCluster(JetStream* js);  // subscribes; before the JetStream thread runs; DeleteClusterState frees
void StopCluster(JetStream* js, ClusterState* state);       // unsubscribes; any thread
void DeleteClusterState(ClusterState* state);

// Decides who serves a `$JS.API` request (`rest` after "$JS.API.") in a
// cluster: true when it was answered here or is another server's to
// answer; false when this server serves it as a single server would.
bool HandleClusteredApi(JetStream* js, Inbound& m, std::string_view rest);

// A committed assignment change, on every server.
void ApplyAssignmentChange(JetStream* js, const AssignmentChange& change);
// Scaling down to one replica, from JetStream's tick: replicas the group
// has removed go, and the one kept becomes a plain stream once it leads a
// group of itself alone (Stream::Leave, Stream::KeepAlone).
void FinishScaleDown(JetStream* js);
// Makes the streams held here match the account's assignments.
void ReconcileStreams(JetStream* js, const std::vector<StreamAssignment>& assigned);

}  // namespace fjord::jetstream

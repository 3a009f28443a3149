#pragma once
// Raft RPCs as bytes: how a NuRaft request or response travels inside a
// NATS message between two servers (transport.h).
//
// Little-endian, versioned by its first byte. No checksum: the bytes ride a
// route's TCP stream, as every other message between servers does, and each
// log entry's payload carries its own check where the log is stored.
// Decoding checks every length against the input, so a malformed message
// from a peer yields null, never a read past the end.
#include <string>
#include <string_view>

#include <libnuraft/req_msg.hxx>
#include <libnuraft/resp_msg.hxx>

namespace fjord::raft {

std::string EncodeRequest(nuraft::req_msg& req);
nuraft::ptr<nuraft::req_msg> DecodeRequest(std::string_view data);

std::string EncodeResponse(nuraft::resp_msg& resp);
nuraft::ptr<nuraft::resp_msg> DecodeResponse(std::string_view data);

}  // namespace fjord::raft

// SHA-256 of many independent messages at once: the chunk digests of a conversion.
//
// One SHA-256 stream is bound by the latency of its rounds (sha256rnds2 with SHA-NI), not by
// the core's throughput: two messages hashed in lockstep on one core cost little more than one.
// Where the CPU has SHA-NI, messages are hashed two at a time (each lane takes the next message
// as soon as its own is done); elsewhere one by one with OpenSSL (core/digest.h). Either way the
// digests are plain SHA-256, equal to Sha256() of each message. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <span>

#include "core/digest.h"

namespace imgfs {

// out[i] = Sha256(messages[i]). REQUIRES: out.size() == messages.size().
void Sha256Batch(std::span<const std::span<const uint8_t>> messages, std::span<Digest> out);

// Whether Sha256Batch uses its SHA-NI path on this CPU (for tests and benchmarks).
bool Sha256BatchHasShaNi();

}  // namespace imgfs

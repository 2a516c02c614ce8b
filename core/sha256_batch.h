// SHA-256 of many independent messages at once: the chunk digests of a conversion.
//
// One SHA-256 stream is bound by the latency of its rounds (sha256rnds2 with SHA-NI), not by
// the core's throughput: two messages hashed in lockstep on one core cost little more than one.
// Where the CPU has SHA-NI, messages are hashed two at a time (each lane takes the next message
// as soon as its own is done); elsewhere one by one with Sha256() (core/digest.h). Either way the
// digests are plain SHA-256, equal to Sha256() of each message. Pure function; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "core/digest.h"

namespace imgfs {

// out[i] = Sha256(messages[i]). REQUIRES: out.size() == messages.size().
void Sha256Batch(std::span<const std::span<const uint8_t>> messages, std::span<Digest> out);

// Whether Sha256Batch and Sha256Lane use their SHA-NI path on this CPU (for tests and
// benchmarks).
bool Sha256BatchHasShaNi();
// For tests: with FORCE, Sha256Batch, Sha256() and the Sha256Lanes made after the call take the
// path of CPUs without SHA-NI even where the CPU has SHA-NI; without, they
// detect again.
void Sha256ForceWithoutShaNiForTesting(bool force);

// One SHA-256 stream (Sha256Hasher's equal) that can be advanced in lockstep with another: two
// packs, or a layer's compressed and uncompressed bytes. Without SHA-NI, a Sha256Hasher.
// Not thread-safe; one per stream.
class Sha256Lane {
 public:
  Sha256Lane();
  ~Sha256Lane();
  Sha256Lane(const Sha256Lane&) = delete;
  Sha256Lane& operator=(const Sha256Lane&) = delete;

  void Update(std::span<const uint8_t> data);
  // Hashes *a into x and *b into y together until at least one of them is used up, and moves
  // both spans past what they gave (what is left of the other is for a later call).
  static void UpdateBoth(Sha256Lane& x, std::span<const uint8_t>* a, Sha256Lane& y,
                         std::span<const uint8_t>* b);
  // The digest of everything given since the last Finish (or construction); starts anew.
  Digest Finish();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace imgfs

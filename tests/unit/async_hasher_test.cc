#include "core/async_hasher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace imgfs {
namespace {

TEST(AsyncSha256Test, EqualsTheDigestOfTheWholeStream) {
  std::mt19937 rng(7);
  std::string all;
  AsyncSha256 hasher;
  // More than the queue holds, in uneven pieces, so Update has to wait for room.
  for (int i = 0; i < 40; ++i) {
    std::string piece(static_cast<size_t>(rng() % (1u << 20)), '\0');
    for (auto& c : piece) c = static_cast<char>(rng());
    all += piece;
    hasher.Update(piece.data(), piece.size());
  }
  EXPECT_EQ(hasher.Finish(), Sha256(all));
}

// Views are hashed as they were when queued: a buffer is reused only after WaitHashed says so,
// and copies and views keep their order.
TEST(AsyncSha256Test, ViewsAreHashedBeforeTheirBuffersAreReused) {
  std::mt19937 rng(9);
  std::string all;
  AsyncSha256 hasher;
  std::vector<std::string> ring(3, std::string(1 << 20, '\0'));
  std::vector<uint64_t> tickets(ring.size(), 0);
  for (int i = 0; i < 30; ++i) {
    const size_t slot = i % ring.size();
    hasher.WaitHashed(tickets[slot]);
    std::string& buf = ring[slot];
    const size_t n = 1 + rng() % buf.size();
    for (size_t k = 0; k < n; ++k) buf[k] = static_cast<char>(rng());
    all.append(buf, 0, n);
    tickets[slot] = hasher.UpdateView(buf.data(), n);
    if (i % 7 == 0) {
      hasher.Update("copied", 6);
      all += "copied";
    }
  }
  EXPECT_EQ(hasher.UpdateView(nullptr, 0), tickets[29 % ring.size()]);  // nothing new queued
  EXPECT_EQ(hasher.Finish(), Sha256(all));
}

// Two streams of uneven pieces from rings of reused buffers, as a layer's compressed and
// uncompressed bytes come: each digest equals that of its own stream, and Finish starts anew.
TEST(AsyncSha256PairTest, EachStreamGetsItsOwnDigest) {
  std::mt19937 rng(5);
  AsyncSha256Pair hasher;
  for (int round = 0; round < 3; ++round) {
    std::string all[2];
    std::vector<std::string> ring[2];
    std::vector<uint64_t> tickets[2];
    for (int s = 0; s < 2; ++s) {
      ring[s].assign(3, std::string(200000, '\0'));
      tickets[s].assign(3, 0);
    }
    for (int i = 0; i < 60; ++i) {
      const int s = rng() % 3 == 0 ? 0 : 1;  // the second stream is the busier, as inflate's
      const size_t slot = i % 3;
      hasher.WaitHashed(s, tickets[s][slot]);
      std::string& buf = ring[s][slot];
      const size_t n = rng() % buf.size();
      for (size_t k = 0; k < n; ++k) buf[k] = static_cast<char>(rng());
      all[s].append(buf, 0, n);
      tickets[s][slot] = hasher.UpdateView(s, buf.data(), n);
    }
    EXPECT_EQ(hasher.Finish(0), Sha256(all[0]));
    EXPECT_EQ(hasher.Finish(1), Sha256(all[1]));
  }
  EXPECT_EQ(hasher.Finish(1), Sha256(""));
}

TEST(AsyncSha256Test, EmptyStreamAndReuseAfterFinish) {
  AsyncSha256 hasher;
  EXPECT_EQ(hasher.Finish(), Sha256(""));
  hasher.Update("abc", 3);
  EXPECT_EQ(hasher.Finish(), Sha256("abc"));  // Finish starts a new stream, as Sha256Hasher
}

}  // namespace
}  // namespace imgfs

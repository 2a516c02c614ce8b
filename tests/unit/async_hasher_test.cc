#include "core/async_hasher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace imgfs {
namespace {

// One stream from a ring of reused buffers, the other idle: a buffer is written again only
// after WaitHashed says its bytes are hashed, and the digest is that of everything queued.
TEST(AsyncSha256PairTest, ViewsAreHashedBeforeTheirBuffersAreReused) {
  std::mt19937 rng(9);
  std::string all;
  AsyncSha256Pair hasher;
  std::vector<std::string> ring(3, std::string(1 << 20, '\0'));
  std::vector<uint64_t> tickets(ring.size(), 0);
  for (int i = 0; i < 30; ++i) {
    const size_t slot = i % ring.size();
    hasher.WaitHashed(1, tickets[slot]);
    std::string& buf = ring[slot];
    const size_t n = 1 + rng() % buf.size();
    for (size_t k = 0; k < n; ++k) buf[k] = static_cast<char>(rng());
    all.append(buf, 0, n);
    tickets[slot] = hasher.UpdateView(1, buf.data(), n);
  }
  EXPECT_EQ(hasher.UpdateView(1, nullptr, 0), tickets[29 % ring.size()]);  // nothing new queued
  EXPECT_EQ(hasher.Finish(1), Sha256(all));
  EXPECT_EQ(hasher.Finish(0), Sha256(""));
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
}

TEST(AsyncSha256PairTest, EmptyStreamsAndReuseAfterFinish) {
  AsyncSha256Pair hasher;
  EXPECT_EQ(hasher.Finish(0), Sha256(""));
  EXPECT_EQ(hasher.Finish(1), Sha256(""));
  const std::string abc = "abc";
  hasher.WaitHashed(0, hasher.UpdateView(0, abc.data(), abc.size()));
  EXPECT_EQ(hasher.Finish(0), Sha256("abc"));
  EXPECT_EQ(hasher.Finish(0), Sha256(""));  // Finish starts a new stream, as Sha256Hasher
}

}  // namespace
}  // namespace imgfs

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

TEST(AsyncSha256Test, EmptyStreamAndReuseAfterFinish) {
  AsyncSha256 hasher;
  EXPECT_EQ(hasher.Finish(), Sha256(""));
  hasher.Update("abc", 3);
  EXPECT_EQ(hasher.Finish(), Sha256("abc"));  // Finish starts a new stream, as Sha256Hasher
}

}  // namespace
}  // namespace imgfs

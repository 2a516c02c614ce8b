#include "core/async_hasher.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

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

TEST(AsyncSha256Test, EmptyStreamAndReuseAfterFinish) {
  AsyncSha256 hasher;
  EXPECT_EQ(hasher.Finish(), Sha256(""));
  hasher.Update("abc", 3);
  EXPECT_EQ(hasher.Finish(), Sha256("abc"));  // Finish starts a new stream, as Sha256Hasher
}

}  // namespace
}  // namespace imgfs

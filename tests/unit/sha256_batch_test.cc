#include "core/sha256_batch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace imgfs {
namespace {

// The reference: OpenSSL's SHA-256 (Sha256Hasher streams through it where libcrypto loads;
// Sha256() of a short message uses the code under test).
Digest OpenSsl(std::string_view m) {
  Sha256Hasher h;
  h.Update(m);
  return h.Finish();
}

std::vector<Digest> Batch(const std::vector<std::string>& messages) {
  std::vector<std::span<const uint8_t>> spans;
  for (const std::string& m : messages)
    spans.emplace_back(reinterpret_cast<const uint8_t*>(m.data()), m.size());
  std::vector<Digest> out(messages.size());
  Sha256Batch(spans, out);
  return out;
}

// FIPS 180-2 examples: what any SHA-256 must give, whatever lane a message lands in.
TEST(Sha256BatchTest, KnownAnswers) {
  const std::vector<std::string> messages = {
      "abc", "", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      std::string(1000000, 'a')};
  const std::vector<std::string> want = {
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
      "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"};
  std::vector<Digest> got = Batch(messages);
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i].Hex(), want[i]) << i;
  // The same messages in another order and alone.
  got = Batch({messages[3], messages[0]});
  EXPECT_EQ(got[0].Hex(), want[3]);
  EXPECT_EQ(got[1].Hex(), want[0]);
  EXPECT_EQ(Batch({messages[2]})[0].Hex(), want[2]);
  EXPECT_TRUE(Batch({}).empty());
}

// Every length around the block and padding boundaries, and long messages of uneven lengths,
// so lanes start, finish and refill at every offset; each digest equals OpenSSL's.
void ExpectBatchEqualsOpenSslForEveryLength() {
  std::mt19937_64 rng(11);
  std::vector<std::string> messages;
  for (size_t len = 0; len <= 260; ++len) {
    std::string m(len, '\0');
    for (auto& c : m) c = static_cast<char>(rng());
    messages.push_back(std::move(m));
  }
  for (int i = 0; i < 40; ++i) {
    std::string m(rng() % 300000, '\0');
    for (auto& c : m) c = static_cast<char>(rng());
    messages.push_back(std::move(m));
  }
  std::shuffle(messages.begin(), messages.end(), rng);
  std::vector<Digest> got = Batch(messages);
  for (size_t i = 0; i < messages.size(); ++i)
    EXPECT_EQ(got[i], OpenSsl(messages[i])) << "message " << i << " of " << messages[i].size();
}

// Two streams fed in pieces of every size, in lockstep where both have bytes and alone where
// not, give the digests of their concatenations; Finish starts a stream anew.
void ExpectLanesEqualOpenSsl() {
  std::mt19937_64 rng(13);
  for (int round = 0; round < 30; ++round) {
    Sha256Lane x, y;
    std::string all_x, all_y;
    for (int step = 0; step < 40; ++step) {
      auto piece = [&](std::string* all) {
        const size_t sizes[] = {0, 1, 63, 64, 65, 127, 128, 1000, 70000};
        std::string p(sizes[rng() % 9] + rng() % 3, '\0');
        for (auto& c : p) c = static_cast<char>(rng());
        *all += p;
        return p;
      };
      std::string a = piece(&all_x), b = piece(&all_y);
      std::span<const uint8_t> sa(reinterpret_cast<const uint8_t*>(a.data()), a.size());
      std::span<const uint8_t> sb(reinterpret_cast<const uint8_t*>(b.data()), b.size());
      if (rng() % 4 == 0) {
        x.Update(sa);
        y.Update(sb);
        continue;
      }
      Sha256Lane::UpdateBoth(x, &sa, y, &sb);
      EXPECT_TRUE(sa.empty() || sb.empty());
      x.Update(sa);
      y.Update(sb);
    }
    EXPECT_EQ(x.Finish(), OpenSsl(all_x)) << "round " << round;
    EXPECT_EQ(y.Finish(), OpenSsl(all_y)) << "round " << round;
    EXPECT_EQ(x.Finish(), OpenSsl(""));
  }
}

TEST(Sha256BatchTest, EqualsOpenSslForEveryLength) { ExpectBatchEqualsOpenSslForEveryLength(); }
TEST(Sha256LaneTest, TwoStreamsInPiecesEqualOpenSsl) { ExpectLanesEqualOpenSsl(); }

// The path of CPUs without SHA-NI (OpenSSL, one message at a time), run here on purpose.
TEST(Sha256BatchTest, TheOpenSslPathGivesTheSameDigests) {
  Sha256ForceWithoutShaNiForTesting(true);
  EXPECT_FALSE(Sha256BatchHasShaNi());
  ExpectBatchEqualsOpenSslForEveryLength();
  ExpectLanesEqualOpenSsl();
  Sha256ForceWithoutShaNiForTesting(false);
}

// Sha256() of a message shorter than kShortSha256Message takes core's SHA-NI code where the CPU
// has it; each length around the block and threshold boundaries gives OpenSSL's digest.
TEST(Sha256BatchTest, ShortMessagesOfSha256AreOpenSslsDigests) {
  std::mt19937 rng(11);
  std::string m(kShortSha256Message + 70, '\0');
  for (char& c : m) c = static_cast<char>(rng());
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 300; ++n) lengths.push_back(n);
  for (size_t n = kShortSha256Message - 70; n <= kShortSha256Message + 70; ++n)
    lengths.push_back(n);
  for (bool force : {false, true}) {
    Sha256ForceWithoutShaNiForTesting(force);
    for (size_t n : lengths) {
      std::string_view part(m.data(), n);
      ASSERT_EQ(Sha256(part), OpenSsl(part)) << "length " << n << (force ? ", forced" : "");
    }
  }
  Sha256ForceWithoutShaNiForTesting(false);
}

// Where libcrypto cannot be loaded, every SHA-256 runs on core's code: SHA-NI where the CPU has
// it, the portable code where not (both forced here). Streams fed in pieces of every size, and
// whole messages around the block, padding and short-message boundaries, give OpenSSL's digests
// (computed first, with libcrypto).
TEST(Sha256Test, WithoutLibcryptoTheDigestsAreTheSame) {
  std::mt19937_64 rng(17);
  std::vector<std::string> messages;
  for (size_t len = 0; len <= 200; ++len) messages.emplace_back(len, '\0');
  for (size_t len :
       {kShortSha256Message - 1, kShortSha256Message, kShortSha256Message + 65, size_t{1000000}})
    messages.emplace_back(len, '\0');
  for (std::string& m : messages)
    for (char& c : m) c = static_cast<char>(rng());
  std::vector<Digest> want;
  for (const std::string& m : messages) want.push_back(OpenSsl(m));

  struct Unforce {  // whatever ASSERT ends the test, later tests get the real paths
    ~Unforce() {
      Sha256ForceWithoutLibcryptoForTesting(false);
      Sha256ForceWithoutShaNiForTesting(false);
    }
  } unforce;
  for (bool without_sha_ni : {false, true}) {
    Sha256ForceWithoutLibcryptoForTesting(true);
    Sha256ForceWithoutShaNiForTesting(without_sha_ni);
    const std::string path = without_sha_ni ? "portable" : "SHA-NI";
    for (size_t i = 0; i < messages.size(); ++i) {
      ASSERT_EQ(Sha256(messages[i]), want[i]) << path << ", length " << messages[i].size();
      Sha256Hasher h;
      for (size_t pos = 0; pos < messages[i].size();) {
        const size_t n = std::min<size_t>(rng() % 150, messages[i].size() - pos);
        h.Update(std::string_view(messages[i]).substr(pos, n));
        pos += n;
      }
      ASSERT_EQ(h.Finish(), want[i]) << path << ", in pieces, length " << messages[i].size();
      EXPECT_EQ(h.Finish(), want[0]) << "Finish starts anew";
    }
    EXPECT_EQ(Batch(messages), want) << path;
  }
}

}  // namespace
}  // namespace imgfs

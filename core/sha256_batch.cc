#include "core/sha256_batch.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "core/sha256_portable.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#define IMGFS_HAVE_SHA_NI_CODE 1
#endif

namespace imgfs {
namespace {

#ifdef IMGFS_HAVE_SHA_NI_CODE

#define IMGFS_SHA_NI __attribute__((target("sha,sse4.1,ssse3")))

using sha256::kInitial;
using sha256::kK;

bool DetectShaNi() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
  const bool ssse3 = ecx & bit_SSSE3, sse41 = ecx & bit_SSE4_1;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return ssse3 && sse41 && (ebx & bit_SHA);
}

// One message in a lane: its whole blocks are read where they lie, then the one or two final
// blocks (its last bytes, 0x80, zeros, its length in bits) from `tail`. The state is kept in the
// order the SHA-NI instructions use: ABEF and CDGH.
struct Lane {
  __m128i abef, cdgh;
  const uint8_t* next = nullptr;  // the next block to hash
  size_t blocks = 0;              // blocks left from `next` on
  bool in_tail = false;
  size_t tail_blocks = 0;
  size_t index = 0;  // the message's position
  alignas(16) uint8_t tail[128];
};

// The initial hash value (a b c d / e f g h), as ABEF / CDGH.
IMGFS_SHA_NI void Reset(Lane& lane) {
  __m128i abcd = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kInitial[0]));
  __m128i efgh = _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kInitial[4]));
  abcd = _mm_shuffle_epi32(abcd, 0xB1);  // CDAB
  efgh = _mm_shuffle_epi32(efgh, 0x1B);  // EFGH
  lane.abef = _mm_alignr_epi8(abcd, efgh, 8);
  lane.cdgh = _mm_blend_epi16(efgh, abcd, 0xF0);
}

IMGFS_SHA_NI void Start(Lane& lane, std::span<const uint8_t> message, size_t index) {
  const uint64_t length = message.size();
  lane.index = index;
  lane.next = message.data();
  lane.blocks = length / 64;
  lane.in_tail = false;
  const size_t rest = length % 64;
  lane.tail_blocks = rest + 1 + 8 <= 64 ? 1 : 2;
  std::memset(lane.tail, 0, sizeof lane.tail);
  if (rest) std::memcpy(lane.tail, message.data() + lane.blocks * 64, rest);
  lane.tail[rest] = 0x80;
  const uint64_t bits = length * 8;
  uint8_t* end = lane.tail + lane.tail_blocks * 64;
  for (int i = 0; i < 8; ++i) end[-1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  Reset(lane);
}

IMGFS_SHA_NI void Store(const Lane& lane, Digest* out) {
  __m128i feba = _mm_shuffle_epi32(lane.abef, 0x1B);
  __m128i dchg = _mm_shuffle_epi32(lane.cdgh, 0xB1);
  __m128i dcba = _mm_blend_epi16(feba, dchg, 0xF0);
  __m128i hgfe = _mm_alignr_epi8(dchg, feba, 8);
  // Words a..h, each written big-endian.
  const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out->bytes.data()), _mm_shuffle_epi8(dcba, swap));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out->bytes.data() + 16),
                   _mm_shuffle_epi8(hgfe, swap));
}

// Four rounds: `wk` holds the four message words plus their constants.
IMGFS_SHA_NI inline __attribute__((always_inline)) void Rounds4(__m128i& abef, __m128i& cdgh,
                                                                __m128i wk) {
  cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
  abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));
}

// The next four message words from the sixteen before them.
IMGFS_SHA_NI inline __attribute__((always_inline)) __m128i Schedule(__m128i w0, __m128i w1,
                                                                    __m128i w2, __m128i w3) {
  return _mm_sha256msg2_epu32(
      _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8(w3, w2, 4)), w3);
}

IMGFS_SHA_NI inline __attribute__((always_inline)) __m128i LoadWords(const uint8_t* p) {
  const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  return _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), swap);
}

IMGFS_SHA_NI inline __attribute__((always_inline)) __m128i K(int group) {
  return _mm_load_si128(reinterpret_cast<const __m128i*>(&kK[4 * group]));
}

// `n` blocks of one lane.
IMGFS_SHA_NI void Compress1(Lane& lane, size_t n) {
  __m128i abef = lane.abef, cdgh = lane.cdgh;
  const uint8_t* p = lane.next;
  for (size_t b = 0; b < n; ++b, p += 64) {
    const __m128i abef0 = abef, cdgh0 = cdgh;
    __m128i w0 = LoadWords(p), w1 = LoadWords(p + 16), w2 = LoadWords(p + 32),
            w3 = LoadWords(p + 48);
    Rounds4(abef, cdgh, _mm_add_epi32(w0, K(0)));
    Rounds4(abef, cdgh, _mm_add_epi32(w1, K(1)));
    Rounds4(abef, cdgh, _mm_add_epi32(w2, K(2)));
    Rounds4(abef, cdgh, _mm_add_epi32(w3, K(3)));
#pragma GCC unroll 12
    for (int g = 4; g < 16; ++g) {
      const __m128i w4 = Schedule(w0, w1, w2, w3);
      Rounds4(abef, cdgh, _mm_add_epi32(w4, K(g)));
      w0 = w1, w1 = w2, w2 = w3, w3 = w4;
    }
    abef = _mm_add_epi32(abef, abef0);
    cdgh = _mm_add_epi32(cdgh, cdgh0);
  }
  lane.abef = abef, lane.cdgh = cdgh;
  lane.next = p;
  lane.blocks -= n;
}

// `n` blocks of each of two lanes, in lockstep: their round chains overlap in the core.
IMGFS_SHA_NI void Compress2(Lane& x, Lane& y, size_t n) {
  __m128i xa = x.abef, xc = x.cdgh, ya = y.abef, yc = y.cdgh;
  const uint8_t* p = x.next;
  const uint8_t* q = y.next;
  for (size_t b = 0; b < n; ++b, p += 64, q += 64) {
    const __m128i xa0 = xa, xc0 = xc, ya0 = ya, yc0 = yc;
    __m128i x0 = LoadWords(p), x1 = LoadWords(p + 16), x2 = LoadWords(p + 32),
            x3 = LoadWords(p + 48);
    __m128i y0 = LoadWords(q), y1 = LoadWords(q + 16), y2 = LoadWords(q + 32),
            y3 = LoadWords(q + 48);
    Rounds4(xa, xc, _mm_add_epi32(x0, K(0)));
    Rounds4(ya, yc, _mm_add_epi32(y0, K(0)));
    Rounds4(xa, xc, _mm_add_epi32(x1, K(1)));
    Rounds4(ya, yc, _mm_add_epi32(y1, K(1)));
    Rounds4(xa, xc, _mm_add_epi32(x2, K(2)));
    Rounds4(ya, yc, _mm_add_epi32(y2, K(2)));
    Rounds4(xa, xc, _mm_add_epi32(x3, K(3)));
    Rounds4(ya, yc, _mm_add_epi32(y3, K(3)));
#pragma GCC unroll 12
    for (int g = 4; g < 16; ++g) {
      const __m128i x4 = Schedule(x0, x1, x2, x3);
      const __m128i y4 = Schedule(y0, y1, y2, y3);
      Rounds4(xa, xc, _mm_add_epi32(x4, K(g)));
      Rounds4(ya, yc, _mm_add_epi32(y4, K(g)));
      x0 = x1, x1 = x2, x2 = x3, x3 = x4;
      y0 = y1, y1 = y2, y2 = y3, y3 = y4;
    }
    xa = _mm_add_epi32(xa, xa0), xc = _mm_add_epi32(xc, xc0);
    ya = _mm_add_epi32(ya, ya0), yc = _mm_add_epi32(yc, yc0);
  }
  x.abef = xa, x.cdgh = xc, y.abef = ya, y.cdgh = yc;
  x.next = p, y.next = q;
  x.blocks -= n, y.blocks -= n;
}

// Moves a lane on when its current run of blocks is done: to its final blocks, or (its digest
// stored) to the next message. False when no message is left for it.
bool Refill(Lane& lane, std::span<const std::span<const uint8_t>> messages, size_t* next,
            std::span<Digest> out) {
  while (lane.blocks == 0) {
    if (!lane.in_tail) {
      lane.in_tail = true;
      lane.next = lane.tail;
      lane.blocks = lane.tail_blocks;
      continue;
    }
    Store(lane, &out[lane.index]);
    if (*next == messages.size()) return false;
    Start(lane, messages[*next], *next);
    ++*next;
  }
  return true;
}

void BatchShaNi(std::span<const std::span<const uint8_t>> messages, std::span<Digest> out) {
  Lane lanes[2];
  size_t next = 0;
  bool live[2] = {false, false};
  for (Lane& lane : lanes) {
    if (next == messages.size()) break;
    Start(lane, messages[next], next);
    ++next;
    live[&lane - lanes] = Refill(lane, messages, &next, out);
  }
  while (live[0] && live[1]) {
    Compress2(lanes[0], lanes[1], std::min(lanes[0].blocks, lanes[1].blocks));
    for (int i = 0; i < 2; ++i) live[i] = Refill(lanes[i], messages, &next, out);
  }
  for (int i = 0; i < 2; ++i) {
    while (live[i]) {
      Compress1(lanes[i], lanes[i].blocks);
      live[i] = Refill(lanes[i], messages, &next, out);
    }
  }
}

#endif  // IMGFS_HAVE_SHA_NI_CODE

}  // namespace

struct Sha256Lane::State {
  bool sha_ni = Sha256BatchHasShaNi();
  // Without SHA-NI, a Sha256Hasher (OpenSSL, or the portable code where libcrypto does not
  // load); made only then, so that a lane with SHA-NI never initializes OpenSSL.
  std::unique_ptr<Sha256Hasher> fallback;
#ifdef IMGFS_HAVE_SHA_NI_CODE
  Lane lane;
  // Bytes of a block not yet whole (lane.tail serves as the buffer); 64 means a whole block
  // waits to be hashed.
  size_t carry = 0;
  uint64_t total = 0;

  // Readies the lane's next blocks from `*data` (or from a block filled from it) and says how
  // many; 0 when `*data` ran out first (its bytes are kept in the carry).
  size_t Ready(std::span<const uint8_t>* data) {
    if (carry > 0 && carry < 64) {
      const size_t take = std::min(64 - carry, data->size());
      std::memcpy(lane.tail + carry, data->data(), take);
      carry += take;
      total += take;
      *data = data->subspan(take);
    }
    if (carry == 64) {
      lane.next = lane.tail;
      lane.blocks = 1;
      return 1;
    }
    if (carry > 0) return 0;
    const size_t whole = data->size() / 64;
    if (whole == 0) {
      std::memcpy(lane.tail, data->data(), data->size());
      carry = data->size();
      total += data->size();
      *data = {};
      return 0;
    }
    lane.next = data->data();
    lane.blocks = whole;
    return whole;
  }
  // After `n` readied blocks were hashed.
  void Consumed(std::span<const uint8_t>* data, size_t n) {
    if (carry == 64) {
      carry = 0;
      return;
    }
    total += n * 64;
    *data = data->subspan(n * 64);
  }
#endif
};

Sha256Lane::Sha256Lane() : s_(std::make_unique<State>()) {
  if (!s_->sha_ni) {
    s_->fallback = std::make_unique<Sha256Hasher>();
    return;
  }
#ifdef IMGFS_HAVE_SHA_NI_CODE
  Reset(s_->lane);
#endif
}

Sha256Lane::~Sha256Lane() = default;

void Sha256Lane::Update(std::span<const uint8_t> data) {
  State& s = *s_;
  if (!s.sha_ni) {
    s.fallback->Update(data);
    return;
  }
#ifdef IMGFS_HAVE_SHA_NI_CODE
  while (!data.empty() || s.carry == 64) {
    const size_t n = s.Ready(&data);
    if (n == 0) break;
    Compress1(s.lane, n);
    s.Consumed(&data, n);
  }
#endif
}

void Sha256Lane::UpdateBoth(Sha256Lane& x, std::span<const uint8_t>* a, Sha256Lane& y,
                            std::span<const uint8_t>* b) {
  if (!x.s_->sha_ni) {
    x.Update(*a);
    y.Update(*b);
    *a = {};
    *b = {};
    return;
  }
#ifdef IMGFS_HAVE_SHA_NI_CODE
  State& s = *x.s_;
  State& t = *y.s_;
  while (!a->empty() && !b->empty()) {
    const size_t n = s.Ready(a);
    const size_t m = t.Ready(b);
    if (n == 0 || m == 0) {  // one ran out inside a block: the other goes on alone
      if (n) {
        Compress1(s.lane, n);
        s.Consumed(a, n);
      }
      if (m) {
        Compress1(t.lane, m);
        t.Consumed(b, m);
      }
      continue;
    }
    const size_t both = std::min(n, m);
    Compress2(s.lane, t.lane, both);
    s.Consumed(a, both);
    t.Consumed(b, both);
  }
#endif
}

Digest Sha256Lane::Finish() {
  State& s = *s_;
  Digest d;
  if (!s.sha_ni) return s.fallback->Finish();
#ifdef IMGFS_HAVE_SHA_NI_CODE
  std::span<const uint8_t> none;
  Update(none);  // a whole block waiting
  // The rest, 0x80, zeros and the length in bits, in one or two blocks.
  const size_t rest = s.carry;
  const size_t blocks = rest + 1 + 8 <= 64 ? 1 : 2;
  std::memset(s.lane.tail + rest, 0, sizeof s.lane.tail - rest);
  s.lane.tail[rest] = 0x80;
  const uint64_t bits = s.total * 8;
  uint8_t* end = s.lane.tail + blocks * 64;
  for (int i = 0; i < 8; ++i) end[-1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  s.lane.next = s.lane.tail;
  s.lane.blocks = blocks;
  Compress1(s.lane, blocks);
  Store(s.lane, &d);
  Reset(s.lane);
  s.carry = 0;
  s.total = 0;
#endif
  return d;
}

namespace {
std::atomic<bool> without_sha_ni_for_testing{false};
}  // namespace

bool Sha256BatchHasShaNi() {
#ifdef IMGFS_HAVE_SHA_NI_CODE
  static const bool has = DetectShaNi();
  return has && !without_sha_ni_for_testing;
#else
  return false;
#endif
}

void Sha256ForceWithoutShaNiForTesting(bool force) { without_sha_ni_for_testing = force; }

void Sha256Batch(std::span<const std::span<const uint8_t>> messages, std::span<Digest> out) {
  if (!Sha256BatchHasShaNi()) {
    for (size_t i = 0; i < messages.size(); ++i)
      out[i] = Sha256(messages[i].data(), messages[i].size());
    return;
  }
#ifdef IMGFS_HAVE_SHA_NI_CODE
  BatchShaNi(messages, out);
#endif
}

}  // namespace imgfs

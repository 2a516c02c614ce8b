// imgfs-index-bench STORE IMAGE [ROUNDS]: how large an image's index is and how long loading it
// takes (RocksDB read + full validation), per 10k files. A benchmark, not a test.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "imgfs/local_store.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: imgfs-index-bench STORE IMAGE [ROUNDS]\n");
    return 2;
  }
  int rounds = argc > 3 ? std::atoi(argv[3]) : 20;
  auto store = imgfs::store::LocalStore::Open(argv[1]);
  if (!store.ok()) return std::fprintf(stderr, "%s\n", store.status().ToString().c_str()), 1;
  auto digest = (*store)->Resolve(argv[2]);
  if (!digest.ok()) return std::fprintf(stderr, "%s\n", digest.status().ToString().c_str()), 1;
  std::vector<double> load_ms, parse_ms;
  std::shared_ptr<const imgfs::ImageIndex> index;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto got = (*store)->GetIndex(*digest);
    auto t1 = std::chrono::steady_clock::now();
    if (!got.ok()) return std::fprintf(stderr, "%s\n", got.status().ToString().c_str()), 1;
    index = *got;
    std::string copy(reinterpret_cast<const char*>(index->bytes().data()), index->bytes().size());
    auto t2 = std::chrono::steady_clock::now();
    auto parsed = imgfs::ImageIndex::Parse(std::move(copy));
    auto t3 = std::chrono::steady_clock::now();
    if (!parsed.ok()) return 1;
    load_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    parse_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t2).count());
  }
  uint64_t files = 0;
  for (uint32_t i = 0; i < index->inode_count(); ++i) files += !S_ISDIR(index->Attrs(i).mode);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto mn = [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); };
  auto mx = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  double per10k = files ? 10000.0 / files : 0;
  std::printf(
      "inodes %u (non-directories %llu), chunks %u, index %zu bytes = %.0f bytes per 10k files\n",
      index->inode_count(), (unsigned long long)files, index->chunk_count(), index->bytes().size(),
      index->bytes().size() * per10k);
  std::printf(
      "load (store read + validate): median %.2f ms (min %.2f, max %.2f) = %.2f ms per 10k files\n",
      median(load_ms), mn(load_ms), mx(load_ms), median(load_ms) * per10k);
  std::printf(
      "validate only:                median %.2f ms (min %.2f, max %.2f) = %.2f ms per 10k files\n",
      median(parse_ms), mn(parse_ms), mx(parse_ms), median(parse_ms) * per10k);
  return 0;
}

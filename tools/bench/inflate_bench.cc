// zlib inflate vs ISA-L isal_inflate over one gzip file, 1 MiB output buffers as LayerStream uses.
// Not built by CMake: g++ -O2 tools/bench/inflate_bench.cc -o /tmp/inflate_bench -lisal -lz
// then /tmp/inflate_bench LAYER.gz (three rounds, MB/s of output).
#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>
int main(int argc, char** argv) {
  std::ifstream f(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string in = ss.str();
  std::vector<unsigned char> out(1 << 20);
  for (int round = 0; round < 3; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t total = 0;
    z_stream z{};
    inflateInit2(&z, 31);
    inflateValidate(&z, 0);
    z.next_in = (Bytef*)in.data();
    z.avail_in = in.size();
    int r;
    do {
      z.next_out = out.data();
      z.avail_out = out.size();
      r = inflate(&z, Z_NO_FLUSH);
      total += out.size() - z.avail_out;
    } while (r == Z_OK);
    inflateEnd(&z);
    double zs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t0 = std::chrono::steady_clock::now();
    uint64_t total2 = 0;
    inflate_state s;
    isal_inflate_init(&s);
    s.crc_flag = ISAL_GZIP;
    s.next_in = (uint8_t*)in.data();
    s.avail_in = in.size();
    while (s.block_state != ISAL_BLOCK_FINISH) {
      s.next_out = out.data();
      s.avail_out = out.size();
      if (isal_inflate(&s) < 0) return 1;
      total2 += out.size() - s.avail_out;
    }
    double is = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("zlib %.0f MB/s  igzip %.0f MB/s  (%llu / %llu bytes out)\n", total / zs / 1e6,
           total2 / is / 1e6, (unsigned long long)total, (unsigned long long)total2);
  }
}

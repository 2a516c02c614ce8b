// Fuzzes the reading of HTTP answers from a remote store (status lines, Content-Range, bodies cut
// anywhere, a 200 to a Range request): whatever a server sends, the reader never keeps more than
// the request allows and never accepts a ranged answer for another range.
//
// Input: 8 bytes of offset, 2 bytes of length (0: a whole-object GET with a 4 KiB limit), then
// lines separated by '\n'; a line starting with 'H' is a header line (the rest of it), any other
// line is a body piece.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/byte_io.h"
#include "imgfs/http_response.h"

using imgfs::remote::internal::ExpectedBody;
using imgfs::remote::internal::HttpResponseReader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 10) return 0;
  ExpectedBody expected;
  expected.offset = imgfs::LoadU64(data) % (1u << 20);
  const uint64_t length = data[8] | (uint64_t{data[9]} << 8);
  expected.ranged = length > 0;
  expected.length = length;
  expected.max_body = 4096;
  HttpResponseReader reader(expected);
  std::string_view rest(reinterpret_cast<const char*>(data) + 10, size - 10);
  bool stopped = false;
  while (!rest.empty() && !stopped) {
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    if (!line.empty() && line[0] == 'H') {
      reader.OnHeaderLine(line.substr(1));
    } else {
      stopped = reader.OnBody(line.data(), line.size()) < line.size();
    }
  }
  auto body = std::move(reader).Finish("fuzz");
  if (body.ok()) {
    const uint64_t limit = expected.ranged ? expected.length : expected.max_body;
    if (body->size() > limit) std::abort();
  }
  return 0;
}

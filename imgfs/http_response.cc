#include "imgfs/http_response.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace imgfs::remote::internal {
namespace {

bool StartsWithNoCase(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (size_t i = 0; i < lower_prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != lower_prefix[i]) return false;
  return true;
}

bool ParseU64(std::string_view s, uint64_t* out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

std::string_view Trim(std::string_view v) {
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
  return v;
}

}  // namespace

void HttpResponseReader::OnHeaderLine(std::string_view line) {
  if (line.starts_with("HTTP/")) {
    size_t sp = line.find(' ');
    uint64_t code = 0;
    if (sp != std::string_view::npos && line.size() >= sp + 4 &&
        !ParseU64(line.substr(sp + 1, 3), &code))
      code = 0;
    status_ = static_cast<long>(code);
    have_content_range_ = false;
    retry_after_seconds_ = -1;
    body_.clear();
    stream_pos_ = 0;
    return;
  }
  if (StartsWithNoCase(line, "retry-after:")) {
    uint64_t secs = 0;
    if (ParseU64(Trim(line.substr(12)), &secs))
      retry_after_seconds_ = static_cast<int64_t>(std::min<uint64_t>(secs, 86400));
    return;
  }
  if (!StartsWithNoCase(line, "content-range:")) return;
  // "bytes FIRST-LAST/TOTAL" (TOTAL may be "*").
  std::string_view v = Trim(line.substr(14));
  if (!StartsWithNoCase(v, "bytes ")) return;
  v.remove_prefix(6);
  size_t dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return;
  uint64_t first, last;
  if (!ParseU64(v.substr(0, dash), &first) ||
      !ParseU64(v.substr(dash + 1, slash - dash - 1), &last))
    return;
  have_content_range_ = true;
  range_first_ = first;
  range_last_ = last;
}

size_t HttpResponseReader::OnBody(const char* data, size_t n) noexcept {
  if (status_ < 200 || status_ > 299) return n;  // error pages and redirects: dropped
  try {
    if (expected_.ranged && status_ == 200) {
      // The server ignored Range and sends the whole blob: keep our slice, stop once we have it.
      const uint64_t pos = stream_pos_, end = expected_.offset + expected_.length;
      stream_pos_ += n;
      const uint64_t from = std::max(pos, expected_.offset);
      const uint64_t to = std::min<uint64_t>(pos + n, end);
      if (from < to) body_.append(data + (from - pos), to - from);
      if (stream_pos_ >= end) {
        sliced_ = true;
        return 0;  // aborts the transfer (and its connection): the rest is not wanted
      }
      return n;
    }
    const uint64_t limit = expected_.ranged ? expected_.length : expected_.max_body;
    if (body_.size() + n > limit) {
      too_large_ = true;
      return 0;
    }
    body_.append(data, n);
    return n;
  } catch (...) {
    out_of_memory_ = true;
    return 0;
  }
}

Status HttpResponseReader::StopReason(const std::string& name) const {
  if (out_of_memory_) return Status::ResourceExhausted(name + ": out of memory");
  if (too_large_) {
    if (expected_.ranged) return Status::Corruption(name + ": server sent more bytes than asked");
    return Status::ResourceExhausted(name + ": larger than " + std::to_string(expected_.max_body) +
                                     " bytes");
  }
  return Status::Ok();
}

Result<std::string> HttpResponseReader::Finish(const std::string& name) && {
  RETURN_IF_ERROR(StopReason(name));
  const long s = status_;
  std::string msg = name + ": HTTP " + std::to_string(s);
  if (s == 404 || s == 410) return Status::NotFound(msg);
  if (s == 408 || s == 429 || (s >= 500 && s <= 599)) return Status::Unavailable(msg);
  if (s == 401 || s == 403) return Status::PermissionDenied(msg);
  if (s == 416) return Status::Corruption(msg + " (blob shorter than the range)");
  if (s < 200 || s > 299) return Status::IOError(msg);
  if (expected_.ranged) {
    if (s != 206 && s != 200) return Status::Corruption(msg + " to a Range request");
    if (s == 206 && have_content_range_ &&
        (range_first_ != expected_.offset ||
         range_last_ != expected_.offset + expected_.length - 1))
      return Status::Corruption(msg + ": Content-Range " + std::to_string(range_first_) + "-" +
                                std::to_string(range_last_) + " is not the range asked for");
  }
  return std::move(body_);
}

}  // namespace imgfs::remote::internal

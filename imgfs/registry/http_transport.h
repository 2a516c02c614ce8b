// One HTTP exchange at a time over libcurl, for the registry client: headers in and out, bodies
// collected or streamed, uploads from memory. This and imgfs/remote_http.cc are the files that
// include curl. The transport makes exactly one attempt per Execute(); retries, authentication
// and the meaning of statuses are the caller's (registry_client.cc).
//
// Connections: at most max_connections curl handles; an idle handle keeps its connections for
// reuse. Every attempt is bounded by connect_timeout, a deadline (request_timeout plus
// expected_bytes at min_transfer_rate; for a streamed body only when it sets expected_bytes, as
// a consumer that may pause does not), the request's time_limit and a low-speed cut-off. An
// error body is read up to its first 4 KiB, then the connection is dropped. Redirects are
// followed (at most 5; to https only, unless http_redirects); curl drops our Authorization
// header when a redirect leaves the host.
//
// Thread-safe: Execute may be called from many threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace imgfs::registry {

struct TransportOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};
  uint64_t min_transfer_rate = 1u << 20;  // bytes/s allowed on top of request_timeout
  uint64_t low_speed_limit = 1024;        // bytes/s; slower for request_timeout: stalled
  unsigned max_connections = 8;
  bool tls_verify = true;       // false only when the user asks (--tls-verify=false)
  std::string ca_file;          // PEM bundle to trust instead of the system's
  bool http_redirects = false;  // redirects may lead to http:// (a plain-http registry's)
};

struct HttpResponse;

struct HttpRequest {
  std::string method = "GET";  // GET, HEAD, PUT, POST, PATCH, DELETE
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;             // sent for PUT, POST and PATCH (may be empty)
  bool follow_redirects = true;
  uint64_t max_body = 4u << 20;  // a collected 2xx body longer than this is ResourceExhausted
  // When set, a 2xx body is handed over piece by piece instead of collected, with the response
  // so far (status and headers). A non-OK return stops the transfer and becomes Execute's result.
  std::function<Status(const HttpResponse& head, std::string_view piece)> on_body;
  uint64_t expected_bytes = 0;              // body bytes either way; widens the deadline
  std::chrono::milliseconds time_limit{0};  // > 0: the attempt ends by then, whatever else
};

struct HttpResponse {
  long status = 0;
  // The final response's headers (after redirects), names lower case; repeated headers are
  // joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;  // the collected 2xx body, or the start of an error body (for messages)
  std::string effective_url;  // the URL that answered (after redirects)

  std::string Header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // One attempt. An HTTP status of any kind is a response, not an error. Errors: Unavailable
  // for failures another attempt may not meet (refused, reset, timed out, TLS handshake),
  // InvalidArgument for a malformed URL, ResourceExhausted for an over-long body, the sink's
  // status when it stopped the transfer, IOError otherwise. Messages name METHOD and URL.
  virtual Result<HttpResponse> Execute(const HttpRequest& request) = 0;
};

Result<std::unique_ptr<HttpTransport>> NewCurlTransport(const TransportOptions& options);

// A URL for messages: "user:password@" hidden, the query (signatures of blob-storage
// redirects) and fragment dropped.
std::string RedactUrl(const std::string& url);
// "scheme://host:port" of an http(s) URL, scheme and host in lower case and the default port
// made explicit; "" for anything else. Credentials go only to the registry's own origin.
std::string UrlOrigin(std::string_view url);
// Percent-encodes everything but RFC 3986 unreserved characters (a query value).
std::string UrlEncode(std::string_view s);

}  // namespace imgfs::registry

// libcurl, opened at first use (curl_handles.h says why).
#include <mutex>
#include <string>

#include "core/shared_library.h"
#include "imgfs/curl_handles.h"

namespace imgfs::remote::curl {
namespace {

Library library;

// Opens libcurl and fills `library`; what went wrong otherwise.
Status Open() {
  // The soname every libcurl since 7.16 has (Debian's libcurl4, OpenSSL or GnuTLS flavour).
  SharedLibrary lib("libcurl.so.4", "libcurl4");
  lib.Bind(library.global_init, "curl_global_init");
  lib.Bind(library.easy_strerror, "curl_easy_strerror");
  lib.Bind(library.easy_init, "curl_easy_init");
  lib.Bind(library.easy_cleanup, "curl_easy_cleanup");
  lib.Bind(library.easy_reset, "curl_easy_reset");
  lib.Bind(library.easy_setopt, "curl_easy_setopt");
  lib.Bind(library.easy_perform, "curl_easy_perform");
  lib.Bind(library.easy_getinfo, "curl_easy_getinfo");
  lib.Bind(library.slist_append, "curl_slist_append");
  lib.Bind(library.slist_free_all, "curl_slist_free_all");
  RETURN_IF_ERROR(lib.status());
  CURLcode rc = library.global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK)
    return Status::Internal(std::string("curl_global_init: ") + library.easy_strerror(rc));
  return Status::Ok();
}

}  // namespace

Status GlobalInit() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] { status = Open(); });
  return status;
}

const Library& Lib() { return library; }

}  // namespace imgfs::remote::curl

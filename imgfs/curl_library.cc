// libcurl, opened at first use (curl_handles.h says why).
#include <dlfcn.h>

#include <mutex>
#include <string>

#include "imgfs/curl_handles.h"

namespace imgfs::remote::curl {
namespace {

Library library;

// Opens libcurl and fills `library`; what went wrong otherwise.
Status Open() {
  // The soname every libcurl since 7.16 has (Debian's libcurl4, OpenSSL or GnuTLS flavour).
  void* handle = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    return Status::Unavailable(std::string("cannot load libcurl (apt-get install libcurl4): ") +
                               (why ? why : "dlopen failed"));
  }
  bool missing = false;
  auto bind = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, name));
    missing |= fn == nullptr;
  };
  bind(library.global_init, "curl_global_init");
  bind(library.easy_strerror, "curl_easy_strerror");
  bind(library.easy_init, "curl_easy_init");
  bind(library.easy_cleanup, "curl_easy_cleanup");
  bind(library.easy_reset, "curl_easy_reset");
  bind(library.easy_setopt, "curl_easy_setopt");
  bind(library.easy_perform, "curl_easy_perform");
  bind(library.easy_getinfo, "curl_easy_getinfo");
  bind(library.slist_append, "curl_slist_append");
  bind(library.slist_free_all, "curl_slist_free_all");
  if (missing) return Status::Unavailable("libcurl.so.4 lacks a function imgfs needs (too old)");
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

// A shared library opened with dlopen at its first use instead of linked: a process that never
// needs it (imgfs run of a mounted image, the daemon) does not pay for loading and relocating it
// at start (docs/architecture.md). libcrypto, libcurl and libarchive are opened this way.
//
//   SharedLibrary lib("libcurl.so.4", "libcurl4");
//   lib.Bind(functions.easy_init, "curl_easy_init");
//   ...
//   RETURN_IF_ERROR(lib.status());
#pragma once

#include <string>

#include "core/status.h"

namespace imgfs {

class SharedLibrary {
 public:
  // Opens SONAME, never to be closed. PACKAGE is the Debian package that has it, which the
  // error names.
  SharedLibrary(const char* soname, const char* package);

  // Points FN at the library's function NAME; null, and NAME remembered, when it has none.
  template <typename Fn>
  void Bind(Fn*& fn, const char* name) {
    fn = reinterpret_cast<Fn*>(Symbol(name));
  }

  // Unavailable, in one line, when the library could not be opened or lacks a function bound.
  Status status() const;

 private:
  void* Symbol(const char* name);

  std::string soname_, package_, open_error_, missing_;
  void* handle_ = nullptr;
};

}  // namespace imgfs

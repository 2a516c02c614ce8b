#include "core/shared_library.h"

#include <dlfcn.h>

namespace imgfs {

SharedLibrary::SharedLibrary(const char* soname, const char* package)
    : soname_(soname), package_(package) {
  handle_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* why = ::dlerror();
    open_error_ = why ? why : "dlopen failed";
  }
}

void* SharedLibrary::Symbol(const char* name) {
  void* symbol = handle_ ? ::dlsym(handle_, name) : nullptr;
  if (handle_ && !symbol) missing_ += (missing_.empty() ? "" : ", ") + std::string(name);
  return symbol;
}

Status SharedLibrary::status() const {
  if (!handle_)
    return Status::Unavailable("cannot load " + soname_ + " (apt-get install " + package_ +
                               "): " + open_error_);
  if (!missing_.empty()) return Status::Unavailable(soname_ + " lacks " + missing_ + " (too old)");
  return Status::Ok();
}

}  // namespace imgfs

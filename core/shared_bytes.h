// Immutable bytes shared between readers without copying: an owned buffer, or a view into
// something another object keeps alive (a mapped data file of the local store). The bytes stay
// valid while any copy of the SharedBytes lives.
// Thread-safety: the bytes are immutable; distinct copies may be used from any threads at once
// (like std::shared_ptr), one object not written concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace imgfs {

class SharedBytes {
 public:
  SharedBytes() = default;
  // Takes ownership of a buffer.
  explicit SharedBytes(std::string bytes) {
    auto owned = std::make_shared<const std::string>(std::move(bytes));
    view_ = *owned;
    owner_ = std::move(owned);
  }
  // A view that `owner` keeps valid.
  SharedBytes(std::shared_ptr<const void> owner, std::string_view view)
      : owner_(std::move(owner)), view_(view) {}

  std::string_view operator*() const { return view_; }
  const std::string_view* operator->() const { return &view_; }

 private:
  std::shared_ptr<const void> owner_;
  std::string_view view_;
};

}  // namespace imgfs

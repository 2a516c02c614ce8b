// containerd's filter syntax (github.com/containerd/containerd/filters) over snapshots, for the
// snapshots API's List: what `ctr snapshots ls` and containerd's garbage collector send.
//
//   filters   := filter*                        a snapshot matches when ANY filter matches
//   filter    := selector ("," selector)*        ... and a filter when ALL its selectors do
//   selector  := fieldpath [operator value]
//   fieldpath := field ("." field)*
//   field     := quoted | [A-Za-z_][A-Za-z0-9_]*
//   operator  := "==" | "!=" | "~="              equal, not equal, regular expression search
//   value     := quoted | [^\s,]+               ~= also takes /.../ and |...| quoting
//   quoted    := "..." with Go's escapes (\" \\ \n \t \r \xHH ...)
//
// Fields, as containerd's snapshot adaptor gives them: `kind` ("active", "view", "committed"),
// `name`, `parent` (present even when empty), `labels.KEY` (KEY: the rest of the path joined by
// "."; present when the label is set). Any other field is absent. A selector without operator
// tests presence; `!=` matches an absent field (as containerd's). An empty list matches all.
//
// Parse errors are InvalidArgument naming the filter. Regular expressions are ECMAScript
// (std::regex), which agrees with Go's RE2 on the simple patterns filters use. Immutable after
// Parse; safe for concurrent Matches.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "core/status.h"
#include "imgfs/snapshotter/snapshot_table.h"

namespace imgfs::snapshotter {

class SnapshotFilter {
 public:
  [[nodiscard]] static Result<SnapshotFilter> Parse(const std::vector<std::string>& filters);
  bool Matches(const SnapshotInfo& s) const;

  enum class Op { kPresent, kEqual, kNotEqual, kMatches };
  struct Selector {
    std::vector<std::string> fieldpath;
    Op op = Op::kPresent;
    std::string value;
    std::shared_ptr<const std::regex> re;  // for kMatches
  };

 private:
  std::vector<std::vector<Selector>> any_;  // any of all of
};

}  // namespace imgfs::snapshotter

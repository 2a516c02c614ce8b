// The store directory is private to its owner: it holds the content of every converted image
// (including the image's 0600 files) and the daemon's control socket, through which a caller
// can make a root daemon convert any path it can read or mount over any directory.
//
// SecureStoreDir is called at every start of the daemon and before every command that writes
// to a store, whatever the umask and whatever mode the directory was left in:
//   - a missing directory is created 0700;
//   - an existing one must be a directory owned by the effective uid (a store owned by another
//     user is refused: that user could swap its files or plant a socket), and is tightened to
//     0700 if group or others had any access.
// Thread-compatible (it changes the directory's mode).
#pragma once

#include <sys/types.h>

#include <string>

#include "core/status.h"

namespace imgfs::daemon {

// Returns the directory's owner (the effective uid) once it is private.
[[nodiscard]] Result<uid_t> SecureStoreDir(const std::string& path);

}  // namespace imgfs::daemon

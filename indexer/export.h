// `imgfs export`: writes an image's flattened tree back out with every attribute (owner, mode
// incl. setuid/sticky, mtime, xattrs, hardlinks, devices, fifos, symlinks), reading file
// contents from a ChunkSource and verifying every chunk against its digest.
// Thread-safety: the functions are safe to call concurrently; each export uses the ChunkSource
// from its calling thread only.
#pragma once

#include <string>

#include "core/chunk_store.h"
#include "core/image_index.h"

namespace imgfs::indexer {

// Writes the tree into DIR, which must not exist or be empty. Needs root for ownership,
// devices and security.* xattrs. Holes: chunks of zeros are left as holes.
Status ExportToDirectory(const ImageIndex& index, ChunkSource& chunks, const std::string& dir);

// Writes the tree as a POSIX pax tar (xattrs as SCHILY.xattr, hardlinks as links) to FILE, or to
// standard output when FILE is "-".
Status ExportToTar(const ImageIndex& index, ChunkSource& chunks, const std::string& file);

}  // namespace imgfs::indexer

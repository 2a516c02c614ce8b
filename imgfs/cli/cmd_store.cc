// imgfs ls | rm | gc
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"

namespace imgfs {

Result<std::unique_ptr<LocalStore>> OpenStoreFromFlag(const std::string& flag_value,
                                                      bool read_only) {
  const std::string path = flag_value.empty() ? DefaultStorePath() : flag_value;
  auto store = LocalStore::Open(path, read_only);
  if (!store.ok() && store.status().code() == Code::kUnavailable &&
      ::access((path + "/imgfs.sock").c_str(), F_OK) == 0)
    return Status::Unavailable("the imgfs daemon serving mounts from " + path +
                               " holds the store; unmount them (imgfs umount) or use another "
                               "--store");
  return store;
}

Result<int> RunList(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {}));
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store"), /*read_only=*/true));
  ASSIGN_OR_RETURN(std::vector<ImageRef> refs, store->ListRefs());
  std::printf("%-40s %-19s %10s %10s\n", "NAME", "DIGEST", "FILES", "SIZE");
  for (const ImageRef& r : refs) {
    ASSIGN_OR_RETURN(auto index, store->GetIndex(r.index_digest));
    uint64_t files = 0, bytes = 0;
    for (uint32_t i = 0; i < index->inode_count(); ++i) {
      InodeAttrs a = index->Attrs(i);
      if (S_ISREG(a.mode)) files++, bytes += a.size;
    }
    std::printf("%-40s %-19s %10llu %10s\n", r.name.c_str(),
                ("sha256:" + r.index_digest.Hex().substr(0, 12)).c_str(),
                static_cast<unsigned long long>(files), HumanBytes(bytes).c_str());
  }
  return 0;
}

Result<int> RunRemove(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {}));
  if (args.positional.empty()) return Status::InvalidArgument("usage: imgfs rm IMAGE...");
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store")));
  ASSIGN_OR_RETURN(std::vector<ImageRef> refs, store->ListRefs());
  for (const std::string& name : args.positional) {
    // A name removes that name; a digest (or a prefix of one) removes every name of the image.
    bool removed = false, is_name = false;
    for (const ImageRef& r : refs) is_name |= r.name == name;
    auto digest = is_name ? Result<Digest>(Status::NotFound(name)) : store->Resolve(name);
    for (const ImageRef& r : refs) {
      if (r.name == name || (digest.ok() && r.index_digest == *digest)) {
        RETURN_IF_ERROR(store->DeleteRef(r.name));
        std::printf("removed %s\n", r.name.c_str());
        removed = true;
      }
    }
    if (!removed) return Status::NotFound("image " + name + " not found in the store");
  }
  return 0;
}

Result<int> RunGc(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {}));
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store")));
  ASSIGN_OR_RETURN(GcResult r, store->GarbageCollect());
  ASSIGN_OR_RETURN(StoreStats s, store->Stats());
  std::printf("removed %llu images, %llu chunks (%s); store holds %llu images, %llu chunks "
              "(%s stored, %s raw)\n",
              static_cast<unsigned long long>(r.indexes_removed),
              static_cast<unsigned long long>(r.chunks_removed), HumanBytes(r.bytes_removed).c_str(),
              static_cast<unsigned long long>(s.indexes), static_cast<unsigned long long>(s.chunks),
              HumanBytes(s.stored_bytes).c_str(), HumanBytes(s.raw_bytes).c_str());
  return 0;
}

}  // namespace imgfs

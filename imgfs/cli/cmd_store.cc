// imgfs ls | rm | gc
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <map>

#include "imgfs/cli/args.h"
#include "imgfs/cli/commands.h"
#include "imgfs/cli/config.h"
#include "imgfs/cli/control_client.h"
#include "imgfs/cli/usage.h"
#include "imgfs/daemon/daemon.h"
#include "imgfs/daemon/mount_point.h"
#include "imgfs/daemon/store_dir.h"

namespace imgfs::cli {

Result<std::unique_ptr<store::LocalStore>> OpenStoreFromFlag(const std::string& flag_value,
                                                             bool read_only) {
  const std::string path = flag_value.empty() ? GlobalConfig().Get("store") : flag_value;
  const std::string socket = daemon::DaemonSocketPath(path);
  // A store we write to is made private first (the daemon does the same at every start).
  if (!read_only) RETURN_IF_ERROR(daemon::SecureStoreDir(path).status());
  auto store = store::LocalStore::Open(path, read_only);
  // Held by another process. A daemon that answers takes convert, rm and gc (DaemonHolds); one
  // that is just exiting after its last unmount (`imgfs umount X && imgfs gc`) lets go in a
  // moment: wait for it, up to 10 s.
  for (int i = 0; i < 100 && !store.ok() && store.status().code() == Code::kUnavailable &&
                  !ControlRequest(socket, "GET", "/stats").ok();
       ++i) {
    ::usleep(100 * 1000);
    store = store::LocalStore::Open(path, read_only);
  }
  if (!store.ok() && store.status().code() == Code::kUnavailable &&
      ::access(socket.c_str(), F_OK) == 0)
    return Status::Unavailable("the imgfs daemon serving mounts from " + path +
                               " holds the store; unmount them (imgfs umount) or use another "
                               "--store");
  return store;
}

bool DaemonHolds(const Status& open_error, const std::string& socket) {
  return open_error.code() == Code::kUnavailable && ControlRequest(socket, "GET", "/stats").ok();
}

Status NoCredentialsForDaemon(const Args& args, const std::string& verb) {
  if (!args.Has("creds") && !args.Has("ca-file")) return Status::Ok();
  return Status::InvalidArgument("the imgfs daemon of this store " + verb +
                                 "s for it and reads registry credentials from its credential "
                                 "files only: drop --creds/--ca-file, or " +
                                 verb + " into another --store");
}

namespace {

// `imgfs ls --mounts`: every imgfs mount of this mount namespace, whichever store serves it, with
// the image its daemon says it serves ("-" and a state when the daemon does not answer).
int ListMounts(bool json) {
  std::map<std::string, nlohmann::json> stats;  // store -> its daemon's /stats (null: no answer)
  nlohmann::json out = nlohmann::json::array();
  for (const daemon::MountEntry& e : daemon::ImgfsMounts()) {
    std::string store = e.source.rfind("imgfs:", 0) == 0 ? e.source.substr(6) : "";
    if (!store.empty() && !stats.count(store)) {
      auto reply = ControlCall(daemon::DaemonSocketPath(store), "GET", "/stats");
      stats[store] = reply.ok() ? *reply : nlohmann::json();
    }
    nlohmann::json row = {{"mountpoint", e.point},
                          {"store", store},
                          {"image", ""},
                          {"state", store.empty() ? "unknown store" : "no daemon"}};
    if (!store.empty() && stats[store].is_object()) {
      row["state"] = "not this daemon's";
      for (const auto& m : stats[store].value("mounts", nlohmann::json::array())) {
        if (m.value("mountpoint", "") != e.point) continue;
        row["image"] = m.value("image", "");
        row["state"] = "serving";
      }
    }
    out.push_back(row);
  }
  if (json) {
    std::printf("%s\n", out.dump(2).c_str());
    return 0;
  }
  std::printf("%-32s %-24s %-19s %s\n", "MOUNTPOINT", "STORE", "IMAGE", "STATE");
  for (const auto& r : out) {
    std::string image = r["image"].get<std::string>();
    if (image.rfind("sha256:", 0) == 0) image = image.substr(0, 19);
    std::printf("%-32s %-24s %-19s %s\n", r["mountpoint"].get<std::string>().c_str(),
                r["store"].get<std::string>().c_str(), image.empty() ? "-" : image.c_str(),
                r["state"].get<std::string>().c_str());
  }
  return 0;
}

}  // namespace

Result<int> RunList(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {"mounts", "json"}));
  if (!args.positional.empty()) return UsageError(kListUsage);
  if (args.Has("mounts")) return ListMounts(args.Has("json"));
  ASSIGN_OR_RETURN(auto store, OpenStoreFromFlag(args.Get("store"), /*read_only=*/true));
  ASSIGN_OR_RETURN(std::vector<store::ImageRef> refs, store->ListRefs());
  std::printf("%-40s %-19s %10s %10s\n", "NAME", "DIGEST", "FILES", "SIZE");
  for (const store::ImageRef& r : refs) {
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
  if (args.positional.empty()) return UsageError(kRemoveUsage);
  auto store = OpenStoreFromFlag(args.Get("store"));
  const std::string socket = daemon::DaemonSocketPath(StorePath(args));
  for (const std::string& name : args.positional) {
    std::vector<std::string> removed;
    if (store.ok()) {
      ASSIGN_OR_RETURN(removed, (*store)->RemoveImage(name));
    } else if (DaemonHolds(store.status(), socket)) {
      ASSIGN_OR_RETURN(nlohmann::json reply, ControlCall(socket, "POST", "/rm", {{"image", name}}));
      removed = reply.value("removed", std::vector<std::string>{});
    } else {
      return store.status();
    }
    for (const std::string& r : removed) std::printf("removed %s\n", r.c_str());
  }
  return 0;
}

Result<int> RunGc(const ArgList& argv) {
  ASSIGN_OR_RETURN(Args args, ParseArgs(argv, {"store"}, {}));
  auto store = OpenStoreFromFlag(args.Get("store"));
  const std::string socket = daemon::DaemonSocketPath(StorePath(args));
  store::GcResult r;
  store::StoreStats s;
  if (store.ok()) {
    ASSIGN_OR_RETURN(r, (*store)->GarbageCollect());
    ASSIGN_OR_RETURN(s, (*store)->Stats());
  } else if (DaemonHolds(store.status(), socket)) {
    // The daemon keeps what its mounts use, named or not.
    ASSIGN_OR_RETURN(nlohmann::json j, ControlCall(socket, "POST", "/gc"));
    r = {j.value("indexes_removed", uint64_t{0}), j.value("chunks_removed", uint64_t{0}),
         j.value("bytes_removed", uint64_t{0})};
    s = {j.value("chunks", uint64_t{0}), j.value("raw_bytes", uint64_t{0}),
         j.value("stored_bytes", uint64_t{0}), j.value("indexes", uint64_t{0})};
  } else {
    return store.status();
  }
  std::printf(
      "removed %llu images, %llu chunks (%s); store holds %llu images, %llu chunks "
      "(%s stored, %s raw)\n",
      static_cast<unsigned long long>(r.indexes_removed),
      static_cast<unsigned long long>(r.chunks_removed), HumanBytes(r.bytes_removed).c_str(),
      static_cast<unsigned long long>(s.indexes), static_cast<unsigned long long>(s.chunks),
      HumanBytes(s.stored_bytes).c_str(), HumanBytes(s.raw_bytes).c_str());
  return 0;
}

}  // namespace imgfs::cli

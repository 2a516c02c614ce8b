// Mount planning: config.json mounts[] into the init's MountOps (flags, propagation, data,
// binds resolved against the bundle, cgroup mounts for the host's layout).
#include <sys/mount.h>
#include <sys/stat.h>

#include <set>

#include "runc-lite/mount_options.h"
#include "runc-lite/plan_builder.h"

namespace imgfs::runc {

Status PlanMounts(const Spec& spec, const std::string& bundle, const CgroupLayout& layout,
                  const ContainerState& state, Arena& arena, InitPlan& out) {
  for (const Mount& m : spec.mounts) {
    std::string dest = CleanPath(m.destination);
    MountOp op;
    op.dest = arena.Str(dest.substr(1));
    op.fstype = m.type.empty() ? nullptr : arena.Str(m.type);
    std::string data;
    for (const std::string& o : m.options) {
      if (auto f = FindMountFlagOption(o)) {
        if (f->clear)
          op.flags &= ~f->flag;
        else
          op.flags |= f->flag;
      } else if (std::optional<unsigned long> p = PropagationFlags(o)) {
        op.propagation = *p;
      } else if (o == "tmpcopyup" || o == "rro" || o == "rrw" || o == "nosymfollow") {
        // accepted, not applied
      } else if (o == "idmap" || o == "ridmap") {
        op.idmap = true;
        op.idmap_recursive = o == "ridmap";
      } else {
        data += (data.empty() ? "" : ",") + o;
      }
    }
    if (!data.empty()) op.data = arena.Str(data);
    const bool bind = m.type == "bind" || (op.flags & MS_BIND);
    if (dest == "/proc" && m.type != "proc")
      return Status::InvalidArgument("refusing to mount a non-procfs (" + m.type + ") onto /proc");
    if (op.idmap) {
      // The mapping is the container's own user namespace (per-mount uidMappings are not
      // supported); the runtime applies it to its clone of the source (container_create.cc).
      const Namespace* user = spec.FindNamespace("user");
      if (!bind) return Status::InvalidArgument("idmap needs a bind mount: " + m.destination);
      if (user == nullptr || !user->path.empty())
        return Status::Unimplemented(
            "idmapped mounts need a new user namespace of the "
            "container's own: " +
            m.destination);
    }
    if (bind) {
      op.kind = MountKind::kBind;
      std::string src = m.source;
      if (src.empty() || src[0] != '/') src = bundle + "/" + src;
      struct stat st;
      if (::stat(src.c_str(), &st) != 0) return Status::FromErrno(errno, "bind source " + src);
      op.source = arena.Str(src);
      op.target_is_file = !S_ISDIR(st.st_mode);
      op.remount = (op.flags & ~(MS_BIND | MS_REC)) != 0;
      out.mounts.push_back(op);
      continue;
    }
    op.source = arena.Str(m.source.empty() ? m.type : m.source);
    if (m.type == "proc") op.kind = MountKind::kProc;
    if (m.type == "cgroup" || m.type == "cgroup2") {
      if (layout.unified_only()) {
        op.fstype = "cgroup2";
        op.source = "cgroup";
        out.mounts.push_back(op);
        continue;
      }
      // v1/hybrid: a tmpfs with the container's own directory of each hierarchy bound in.
      MountOp tmpfs = op;
      tmpfs.fstype = "tmpfs";
      tmpfs.source = "tmpfs";
      tmpfs.flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
      tmpfs.data = "mode=755";
      out.mounts.push_back(tmpfs);
      std::set<std::string> done;
      for (const auto& [controller, dir] : state.cgroup_paths) {
        if (!done.insert(dir).second) continue;
        std::string mount_point = controller == "unified" ? layout.unified_mount : "";
        if (auto v1 = layout.v1.find(controller); v1 != layout.v1.end()) mount_point = v1->second;
        if (mount_point.empty())
          return Status::Internal("cgroup " + controller + " of the container is not mounted");
        std::string name = mount_point.substr(mount_point.rfind('/') + 1);
        MountOp b;
        b.kind = MountKind::kBind;
        b.source = arena.Str(dir);
        b.dest = arena.Str(dest.substr(1) + "/" + name);
        b.flags = MS_BIND | (op.flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC));
        b.remount = (b.flags & ~MS_BIND) != 0;
        out.mounts.push_back(b);
      }
      if (op.flags & MS_RDONLY) {  // the tmpfs itself becomes read-only once populated
        MountOp ro = tmpfs;
        ro.flags |= MS_REMOUNT | MS_RDONLY;
        ro.propagation = 0;
        out.mounts.push_back(ro);
      }
      continue;
    }
    out.mounts.push_back(op);
  }
  return Status::Ok();
}

}  // namespace imgfs::runc

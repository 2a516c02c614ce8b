#include "gpu-hooks/discovery.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>
#include <utility>

#include "core/fd.h"
#include "gpu-hooks/ld_cache.h"

namespace imgfs::gpu {
namespace {

constexpr size_t kMaxProcFile = 1 << 20;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// "Key: value" lines.
std::map<std::string, std::string> ParseKeyValues(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    out.emplace(std::string(Trim(line.substr(0, colon))),
                std::string(Trim(line.substr(colon + 1))));
  }
  return out;
}

struct NamedCapability {
  std::string_view prefix;  // matched as PREFIX + ".so" at the start of the base name
  Capability capability;
};

// The groups of nvidia-container-toolkit (libnvidia-container's nvc_info.c), with
// libnvidia-fbc under display as this project's brief asks.
constexpr std::array kLibraries = {
    NamedCapability{"libnvidia-ml", Capability::kUtility},
    NamedCapability{"libnvidia-cfg", Capability::kUtility},
    NamedCapability{"libnvidia-nscq", Capability::kUtility},
    NamedCapability{"libcuda", Capability::kCompute},
    NamedCapability{"libcudadebugger", Capability::kCompute},
    NamedCapability{"libnvidia-opencl", Capability::kCompute},
    NamedCapability{"libnvidia-gpucomp", Capability::kCompute},
    NamedCapability{"libnvidia-ptxjitcompiler", Capability::kCompute},
    NamedCapability{"libnvidia-fatbinaryloader", Capability::kCompute},
    NamedCapability{"libnvidia-allocator", Capability::kCompute},
    NamedCapability{"libnvidia-compiler", Capability::kCompute},
    NamedCapability{"libnvidia-nvvm", Capability::kCompute},
    NamedCapability{"libnvidia-pkcs11", Capability::kCompute},
    NamedCapability{"libnvidia-pkcs11-openssl3", Capability::kCompute},
    NamedCapability{"libvdpau_nvidia", Capability::kVideo},
    NamedCapability{"libnvidia-encode", Capability::kVideo},
    NamedCapability{"libnvidia-opticalflow", Capability::kVideo},
    NamedCapability{"libnvcuvid", Capability::kVideo},
    NamedCapability{"libnvidia-eglcore", Capability::kGraphics},
    NamedCapability{"libnvidia-glcore", Capability::kGraphics},
    NamedCapability{"libnvidia-tls", Capability::kGraphics},
    NamedCapability{"libnvidia-glsi", Capability::kGraphics},
    NamedCapability{"libnvidia-ifr", Capability::kGraphics},
    NamedCapability{"libnvidia-rtcore", Capability::kGraphics},
    NamedCapability{"libnvoptix", Capability::kGraphics},
    NamedCapability{"libGLX_nvidia", Capability::kGraphics},
    NamedCapability{"libEGL_nvidia", Capability::kGraphics},
    NamedCapability{"libGLESv2_nvidia", Capability::kGraphics},
    NamedCapability{"libGLESv1_CM_nvidia", Capability::kGraphics},
    NamedCapability{"libnvidia-glvkspirv", Capability::kGraphics},
    NamedCapability{"libnvidia-cbl", Capability::kGraphics},
    NamedCapability{"libnvidia-fbc", Capability::kDisplay},
};

constexpr std::array kBinaries = {
    NamedCapability{"nvidia-smi", Capability::kUtility},
    NamedCapability{"nvidia-debugdump", Capability::kUtility},
    NamedCapability{"nvidia-persistenced", Capability::kUtility},
    NamedCapability{"nvidia-cuda-mps-control", Capability::kCompute},
    NamedCapability{"nvidia-cuda-mps-server", Capability::kCompute},
};

constexpr std::array<std::string_view, 7> kBinaryDirs = {
    "/usr/bin", "/usr/sbin", "/usr/local/bin",       "/usr/local/sbin",
    "/bin",     "/sbin",     "/usr/local/nvidia/bin"};

// Driver version -> newest CUDA it supports (CUDA toolkit release notes, "minimum driver").
struct CudaRow {
  std::string_view driver;
  std::string_view cuda;
};
constexpr std::array kCudaTable = {
    CudaRow{"580.65.06", "13.0"}, CudaRow{"575.51.03", "12.9"}, CudaRow{"570.26", "12.8"},
    CudaRow{"565.57.01", "12.7"}, CudaRow{"560.28.03", "12.6"}, CudaRow{"555.42.02", "12.5"},
    CudaRow{"550.54.14", "12.4"}, CudaRow{"545.23.06", "12.3"}, CudaRow{"535.54.03", "12.2"},
    CudaRow{"530.30.02", "12.1"}, CudaRow{"525.60.13", "12.0"}, CudaRow{"520.61.05", "11.8"},
    CudaRow{"515.43.04", "11.7"}, CudaRow{"510.39.01", "11.6"}, CudaRow{"495.29.05", "11.5"},
    CudaRow{"470.42.01", "11.4"}, CudaRow{"465.19.01", "11.3"}, CudaRow{"460.27.03", "11.2"},
    CudaRow{"455.23", "11.1"},    CudaRow{"450.36.06", "11.0"}, CudaRow{"440.33", "10.2"},
    CudaRow{"418.39", "10.1"},    CudaRow{"410.48", "10.0"},
};

std::string Basename(std::string_view p) {
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}
std::string Dirname(std::string_view p) {
  size_t slash = p.rfind('/');
  if (slash == std::string_view::npos) return ".";
  return slash == 0 ? "/" : std::string(p.substr(0, slash));
}

// Resolves symlinks of PATH (absolute, inside ROOT) lexically within ROOT: an absolute link target
// is taken relative to ROOT. Returns the in-root path of the real file.
Result<std::string> ResolveInRoot(const DriverInfo& info, std::string path) {
  for (int hops = 0; hops < 16; ++hops) {
    std::string host = info.HostPath(path);
    char buf[4096];
    ssize_t n = ::readlink(host.c_str(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINVAL) return path;  // not a symlink
      return Status::FromErrno(errno, "readlink " + host);
    }
    std::string target(buf, static_cast<size_t>(n));
    path = target.starts_with('/') ? target : Dirname(path) + "/" + target;
  }
  return Status::InvalidArgument("too many symlinks: " + path);
}

void DiscoverGpus(DriverInfo& info) {
  std::string dir = info.HostPath("/proc/driver/nvidia/gpus");
  for (const std::string& bus : ListDir(dir)) {
    auto text = ReadFileToString(dir + "/" + bus + "/information", kMaxProcFile);
    if (!text.ok()) {
      info.warnings.push_back("unreadable " + dir + "/" + bus + "/information");
      continue;
    }
    auto kv = ParseKeyValues(*text);
    GpuInfo gpu;
    gpu.bus_id = kv.count("Bus Location") ? kv["Bus Location"] : bus;
    gpu.uuid = kv["GPU UUID"];
    gpu.model = kv["Model"];
    const std::string& minor = kv["Device Minor"];
    if (std::from_chars(minor.data(), minor.data() + minor.size(), gpu.minor).ec != std::errc()) {
      info.warnings.push_back("GPU " + bus + ": no Device Minor");
      continue;
    }
    info.gpus.push_back(std::move(gpu));
  }
  std::sort(info.gpus.begin(), info.gpus.end(),
            [](const GpuInfo& a, const GpuInfo& b) { return a.bus_id < b.bus_id; });
  for (size_t i = 0; i < info.gpus.size(); ++i) info.gpus[i].index = static_cast<int>(i);
}

void ParseProcDevices(DriverInfo& info) {
  auto text = ReadFileToString(info.HostPath("/proc/devices"), kMaxProcFile);
  if (!text.ok()) {
    info.warnings.push_back("unreadable " + info.HostPath("/proc/devices"));
    return;
  }
  std::string_view t = *text;
  bool in_char = false;
  while (!t.empty()) {
    size_t nl = t.find('\n');
    std::string_view line = Trim(t.substr(0, nl));
    t = nl == std::string_view::npos ? std::string_view() : t.substr(nl + 1);
    if (line == "Character devices:") {
      in_char = true;
      continue;
    }
    if (line == "Block devices:") {
      in_char = false;
      continue;
    }
    if (!in_char || line.empty()) continue;
    uint32_t major = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), major);
    if (ec != std::errc()) continue;
    std::string name(Trim(line.substr(p - line.data())));
    if (name.starts_with("nvidia")) info.majors[name] = major;
  }
}

// The driver that owns a node, to cross-check st_rdev against /proc/devices.
std::string_view DriverForNode(std::string_view path) {
  if (path.starts_with("/dev/nvidia-uvm")) return "nvidia-uvm";
  if (path.starts_with("/dev/nvidia-caps/")) return "nvidia-caps";
  return "nvidia";
}

std::optional<DeviceNodeInfo> StatNode(DriverInfo& info, const std::string& path) {
  struct stat st;
  std::string host = info.HostPath(path);
  if (::stat(host.c_str(), &st) != 0) return std::nullopt;
  if (!S_ISCHR(st.st_mode)) {
    info.warnings.push_back(host + " is not a character device; skipped");
    return std::nullopt;
  }
  DeviceNodeInfo node{path, ::major(st.st_rdev), ::minor(st.st_rdev), st.st_mode & 07777};
  std::string_view driver = DriverForNode(path);
  auto it = info.majors.find(std::string(driver));
  if (driver == "nvidia" && it == info.majors.end()) it = info.majors.find("nvidia-frontend");
  if (it != info.majors.end() && it->second != node.major) {
    info.warnings.push_back(host + " has major " + std::to_string(node.major) + " but " +
                            std::string(driver) + " is " + std::to_string(it->second) +
                            " in /proc/devices (stale node?)");
  }
  return node;
}

void DiscoverNodes(DriverInfo& info) {
  for (GpuInfo& gpu : info.gpus) {
    gpu.node = StatNode(info, "/dev/nvidia" + std::to_string(gpu.minor));
    if (!gpu.node) info.warnings.push_back("no device node for GPU " + gpu.bus_id);
  }
  for (const char* p : {"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"}) {
    if (auto n = StatNode(info, p)) {
      info.control_nodes.push_back(*n);
    } else if (std::string_view(p) == "/dev/nvidia-uvm" && info.majors.count("nvidia-uvm")) {
      info.warnings.push_back("nvidia-uvm is loaded but /dev/nvidia-uvm is missing");
    }
  }
  for (const std::string& name : ListDir(info.HostPath("/dev/nvidia-caps"))) {
    if (auto n = StatNode(info, "/dev/nvidia-caps/" + name)) info.control_nodes.push_back(*n);
  }
}

void DiscoverLibraries(DriverInfo& info) {
  auto entries = ReadLdCache(info.HostPath("/etc/ld.so.cache"));
  if (!entries.ok()) {
    info.warnings.push_back("ld.so.cache: " + entries.status().ToString());
    return;
  }
  std::set<std::string> seen;
  for (const LdCacheEntry& e : *entries) {
    if (!IsNativeLdCacheEntry(e) || e.hwcap != 0) continue;
    auto cap = ClassifyDriverFile(e.soname);
    if (!cap) continue;
    auto real = ResolveInRoot(info, e.path);
    if (!real.ok()) {
      info.warnings.push_back(real.status().ToString());
      continue;
    }
    if (!seen.insert(*real).second) continue;
    info.libraries.push_back({*real, *cap, e.soname});
    if (info.version.empty() && Basename(*real).starts_with("libcuda.so.")) {
      info.version = DriverVersionFromLibName(Basename(*real)).value_or("");
    }
  }
  std::sort(info.libraries.begin(), info.libraries.end(),
            [](const DriverFile& a, const DriverFile& b) { return a.path < b.path; });
}

void DiscoverFiles(DriverInfo& info) {
  std::set<std::pair<dev_t, ino_t>> seen;
  for (std::string_view dir : kBinaryDirs) {
    for (const NamedCapability& b : kBinaries) {
      std::string path = std::string(dir) + "/" + std::string(b.prefix);
      struct stat st;
      if (::stat(info.HostPath(path).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (!seen.insert({st.st_dev, st.st_ino}).second) continue;  // /bin -> usr/bin
      info.binaries.push_back({path, b.capability, ""});
    }
  }
  if (!info.version.empty()) {
    std::string dir = "/lib/firmware/nvidia/" + info.version;
    for (const std::string& name : ListDir(info.HostPath(dir))) {
      if (name.ends_with(".bin")) info.firmware.push_back(dir + "/" + name);
    }
  }
  struct stat st;
  if (::lstat(info.HostPath("/run/nvidia-persistenced/socket").c_str(), &st) == 0) {
    info.ipc.push_back({"/run/nvidia-persistenced/socket", Capability::kUtility, ""});
  }
  if (::stat(info.HostPath("/tmp/nvidia-mps").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    info.ipc.push_back({"/tmp/nvidia-mps", Capability::kCompute, ""});
  }
}

}  // namespace

std::string_view CapabilityName(Capability c) {
  switch (c) {
    case Capability::kUtility:
      return "utility";
    case Capability::kCompute:
      return "compute";
    case Capability::kVideo:
      return "video";
    case Capability::kGraphics:
      return "graphics";
    case Capability::kDisplay:
      return "display";
  }
  return "?";
}

std::optional<Capability> ParseCapability(std::string_view name) {
  for (Capability c : {Capability::kUtility, Capability::kCompute, Capability::kVideo,
                       Capability::kGraphics, Capability::kDisplay}) {
    if (CapabilityName(c) == name) return c;
  }
  return std::nullopt;
}

std::optional<Capability> ClassifyDriverFile(std::string_view basename) {
  // Longest prefix wins: "libnvidia-pkcs11-openssl3" over "libnvidia-pkcs11".
  std::optional<Capability> best;
  size_t best_len = 0;
  for (const NamedCapability& l : kLibraries) {
    if (basename.starts_with(l.prefix) && basename.substr(l.prefix.size()).starts_with(".so") &&
        l.prefix.size() > best_len) {
      best = l.capability;
      best_len = l.prefix.size();
    }
  }
  if (best) return best;
  for (const NamedCapability& b : kBinaries) {
    if (basename == b.prefix) return b.capability;
  }
  return std::nullopt;
}

std::string DriverInfo::HostPath(std::string_view path) const {
  if (root.empty() || root == "/") return std::string(path);
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r + std::string(path);
}

std::optional<std::string> ParseDriverVersionFile(std::string_view text) {
  // "... Kernel Module  550.54.14  ..." or "... Open Kernel Module for x86_64  570.86.15  ...":
  // the first token after "Kernel Module" shaped like N.N[.N].
  constexpr std::string_view kMarker = "Kernel Module";
  size_t at = text.find(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + kMarker.size());
  rest = rest.substr(0, rest.find('\n'));
  while (!rest.empty()) {
    rest = Trim(rest);
    size_t end = rest.find_first_of(" \t");
    std::string_view tok = rest.substr(0, end);
    if (!tok.empty() && tok.find('.') != std::string_view::npos &&
        tok.find_first_not_of("0123456789.") == std::string_view::npos && tok[0] != '.') {
      return std::string(tok);
    }
    if (end == std::string_view::npos) break;
    rest = rest.substr(end);
  }
  return std::nullopt;
}

std::optional<std::string> DriverVersionFromLibName(std::string_view basename) {
  size_t so = basename.find(".so.");
  if (so == std::string_view::npos) return std::nullopt;
  std::string_view v = basename.substr(so + 4);
  if (v.find('.') == std::string_view::npos) return std::nullopt;  // a soname like .so.1
  for (char c : v) {
    if (!(c == '.' || (c >= '0' && c <= '9'))) return std::nullopt;
  }
  return std::string(v);
}

int CompareVersions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    uint64_t x = 0, y = 0;
    auto ra = std::from_chars(a.data(), a.data() + a.size(), x);
    auto rb = std::from_chars(b.data(), b.data() + b.size(), y);
    if (x != y) return x < y ? -1 : 1;
    a.remove_prefix(ra.ptr - a.data());
    b.remove_prefix(rb.ptr - b.data());
    if (!a.empty()) a.remove_prefix(1);  // the dot (or junk)
    if (!b.empty()) b.remove_prefix(1);
  }
  return 0;
}

std::string MaxCudaVersionForDriver(std::string_view driver_version) {
  for (const CudaRow& row : kCudaTable) {
    if (CompareVersions(driver_version, row.driver) >= 0) return std::string(row.cuda);
  }
  return "";
}

Result<DriverInfo> DiscoverDriver(const std::string& root) {
  DriverInfo info;
  info.root = root.empty() ? "/" : root;
  if (auto text = ReadFileToString(info.HostPath("/proc/driver/nvidia/version"), kMaxProcFile);
      text.ok()) {
    info.version = ParseDriverVersionFile(*text).value_or("");
  }
  ParseProcDevices(info);
  DiscoverGpus(info);
  DiscoverNodes(info);
  DiscoverLibraries(info);
  if (info.version.empty() && info.libraries.empty() && info.gpus.empty()) {
    return Status::NotFound("no NVIDIA driver under " + info.root +
                            " (no proc/driver/nvidia/version, GPUs or libcuda in ld.so.cache)");
  }
  DiscoverFiles(info);
  if (!info.version.empty()) info.cuda_version = MaxCudaVersionForDriver(info.version);
  return info;
}

}  // namespace imgfs::gpu

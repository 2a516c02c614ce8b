#include "tools/cri/pod_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <optional>
#include <thread>

#include "core/fd.h"
#include "core/log.h"
#include "tools/cri/cri_log.h"

namespace imgfs::cri {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kStatusEvery = 10;

// Follows a CRI log file that may not exist yet, copying each completed line to stdout or
// stderr.
class LogFollower {
 public:
  explicit LogFollower(std::string path) : path_(std::move(path)) {}

  // Reads what was appended; true when at least one line was written out.
  Result<bool> Poll() {
    if (fd_.get() < 0) {
      fd_ = UniqueFd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
      if (fd_.get() < 0) {
        if (errno == ENOENT) return false;
        return Status::FromErrno(errno, "open " + path_);
      }
    }
    bool wrote = false;
    char buf[65536];
    for (;;) {
      const ssize_t n = RetryOnEintr([&] { return ::read(fd_.get(), buf, sizeof buf); });
      if (n < 0) return Status::FromErrno(errno, "read " + path_);
      if (n == 0) return wrote;
      ASSIGN_OR_RETURN(std::vector<OutputLine> lines, reader_.Feed(std::string_view(buf, n)));
      for (const OutputLine& l : lines) Write(l);
      wrote = wrote || !lines.empty();
    }
  }

  void Finish() {
    for (const OutputLine& l : reader_.Flush()) Write(l);
  }

 private:
  static void Write(const OutputLine& l) {
    FILE* f = l.stream == Stream::kStdout ? stdout : stderr;
    std::fwrite(l.text.data(), 1, l.text.size(), f);
    std::fflush(f);
  }

  const std::string path_;
  UniqueFd fd_;
  CriLogReader reader_;
};

// What has been created, removed in reverse order whatever happens.
class PodCleanup {
 public:
  PodCleanup(CriClient& client, bool keep) : client_(client), keep_(keep) {}
  ~PodCleanup() {
    if (keep_) return;
    if (!container_.empty()) Warn(client_.RemoveContainer(container_));
    if (!pod_.empty()) {
      Warn(client_.StopPodSandbox(pod_));
      Warn(client_.RemovePodSandbox(pod_));
    }
  }
  void set_pod(std::string id) { pod_ = std::move(id); }
  void set_container(std::string id) { container_ = std::move(id); }

 private:
  static void Warn(const Status& s) {
    if (!s.ok()) IMGFS_LOG(Warning) << "cleanup: " << s.message();
  }
  CriClient& client_;
  const bool keep_;
  std::string pod_;
  std::string container_;
};

}  // namespace

Result<int> RunPod(CriClient& client, const PodRunOptions& o) {
  const Clock::time_point t0 = Clock::now();
  auto mark = [&](const char* what) {
    if (!o.timings) return;
    const auto ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::fprintf(stderr, "imgfs-cri: %s %.1f ms\n", what, ms);
  };
  if (o.pull) {
    ASSIGN_OR_RETURN(std::string ref, client.PullImage(o.container.image));
    IMGFS_LOG(Info) << "pulled " << o.container.image << " as " << ref;
    mark("pull");
  }
  PodCleanup cleanup(client, o.keep);
  ASSIGN_OR_RETURN(std::string pod_id, client.RunPodSandbox(o.pod));
  cleanup.set_pod(pod_id);
  mark("sandbox");
  ASSIGN_OR_RETURN(std::string id, client.CreateContainer(pod_id, o.container, o.pod));
  cleanup.set_container(id);
  mark("create");
  RETURN_IF_ERROR(client.StartContainer(id));
  mark("start");
  LogFollower log(o.pod.log_directory + "/" + o.container.log_path);
  bool first = false;
  for (uint64_t round = 0;; ++round) {
    // The log every round (a read), the state every kStatusEvery rounds (an RPC that costs
    // containerd CPU the container may need); the state first: output written before the exit
    // is in the file when the state says so.
    std::optional<ContainerInfo> info;
    if (round % kStatusEvery == 0) {
      ASSIGN_OR_RETURN(info, client.ContainerStatus(id));
    }
    ASSIGN_OR_RETURN(bool wrote, log.Poll());
    if (wrote && !first) {
      first = true;
      mark("first output");
    }
    if (info && info->state == ContainerState::kExited) {
      log.Finish();
      mark("exit");
      if (!info->reason.empty() && info->reason != "Completed")
        IMGFS_LOG(Info) << "container " << id << ": " << info->reason << " " << info->message;
      return info->exit_code;
    }
    if (info && info->state == ContainerState::kUnknown)
      return Status::Internal("container " + id + " is in an unknown state: " + info->reason + " " +
                              info->message);
    std::this_thread::sleep_for(o.poll);
  }
}

}  // namespace imgfs::cri

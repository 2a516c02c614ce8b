#include "runc-lite/device_filter.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "core/fd.h"

namespace imgfs::runc {
namespace {

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i;
  memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// Registers: r1 = ctx; r2 = device type, r3 = access, r4 = major, r5 = minor.
void Prologue(std::vector<bpf_insn>& p) {
  p.push_back(Insn(BPF_LDX | BPF_MEM | BPF_W, 2, 1, 0, 0));  // r2 = ctx->access_type
  p.push_back(Insn(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xffff));
  p.push_back(Insn(BPF_LDX | BPF_MEM | BPF_W, 3, 1, 0, 0));
  p.push_back(Insn(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16));  // r3 = access bits
  p.push_back(Insn(BPF_LDX | BPF_MEM | BPF_W, 4, 1, 4, 0));   // r4 = major
  p.push_back(Insn(BPF_LDX | BPF_MEM | BPF_W, 5, 1, 8, 0));   // r5 = minor
}

void Return(std::vector<bpf_insn>& p, bool allow) {
  p.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, allow ? 1 : 0));
  p.push_back(Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

int AccessBits(const std::string& access) {
  int bits = 0;
  for (char c : access.empty() ? std::string("rwm") : access) {
    if (c == 'r') bits |= BPF_DEVCG_ACC_READ;
    if (c == 'w') bits |= BPF_DEVCG_ACC_WRITE;
    if (c == 'm') bits |= BPF_DEVCG_ACC_MKNOD;
  }
  return bits;
}

// One rule: jumps past itself unless the device matches, then returns its verdict.
void RuleBlock(std::vector<bpf_insn>& p, const DeviceRule& r) {
  std::vector<bpf_insn> checks;
  if (r.type == "c" || r.type == "b") {
    int type = r.type == "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK;
    checks.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0, type));
  }
  int acc = AccessBits(r.access);
  if (acc != (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)) {
    // Matches only when every requested access bit is in the rule: (r3 & ~acc) == 0.
    checks.push_back(Insn(BPF_ALU64 | BPF_MOV | BPF_X, 0, 3, 0, 0));
    checks.push_back(Insn(BPF_ALU | BPF_AND | BPF_K, 0, 0, 0, ~acc));
    checks.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 0, 0));
  }
  if (r.major && *r.major >= 0)
    checks.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, static_cast<int32_t>(*r.major)));
  if (r.minor && *r.minor >= 0)
    checks.push_back(Insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, static_cast<int32_t>(*r.minor)));
  // Each conditional jump skips the remaining checks plus the 2-instruction return.
  for (size_t i = 0; i < checks.size(); ++i) {
    if (BPF_OP(checks[i].code) == BPF_JNE)
      checks[i].off = static_cast<int16_t>(checks.size() - i - 1 + 2);
    p.push_back(checks[i]);
  }
  Return(p, r.allow);
}

long Bpf(int cmd, bpf_attr* attr) { return ::syscall(SYS_bpf, cmd, attr, sizeof *attr); }

}  // namespace

std::vector<bpf_insn> BuildDeviceFilter(const std::vector<DeviceRule>& rules) {
  bool default_allow = true;  // the v1 default: everything allowed
  size_t first = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (rules[i].type.empty() || rules[i].type == "a") {
      bool all =
          (!rules[i].major || *rules[i].major < 0) && (!rules[i].minor || *rules[i].minor < 0);
      if (all && AccessBits(rules[i].access) == 7) {
        default_allow = rules[i].allow;
        first = i + 1;
      }
    }
  }
  std::vector<bpf_insn> p;
  Prologue(p);
  for (size_t i = rules.size(); i-- > first;) RuleBlock(p, rules[i]);  // last match wins
  Return(p, default_allow);
  return p;
}

Status ApplyDeviceFilter(const std::string& cgroup_dir, const std::vector<DeviceRule>& rules) {
  std::vector<bpf_insn> prog = BuildDeviceFilter(rules);
  static const char kLicense[] = "Apache";
  char log[4096] = {};
  bpf_attr load;
  memset(&load, 0, sizeof load);
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = reinterpret_cast<uint64_t>(prog.data());
  load.insn_cnt = static_cast<uint32_t>(prog.size());
  load.license = reinterpret_cast<uint64_t>(kLicense);
  load.log_buf = reinterpret_cast<uint64_t>(log);
  load.log_size = sizeof log;
  load.log_level = 1;
  long prog_fd = Bpf(BPF_PROG_LOAD, &load);
  if (prog_fd < 0)
    return Status::FromErrno(errno, std::string("loading the device filter: ") + log);
  UniqueFd prog_owner(static_cast<int>(prog_fd));
  ASSIGN_OR_RETURN(UniqueFd dir, OpenFile(cgroup_dir, O_RDONLY | O_DIRECTORY));

  // What is attached now, to detach after the new filter is in place.
  uint32_t ids[64] = {};
  bpf_attr query;
  memset(&query, 0, sizeof query);
  query.query.target_fd = static_cast<uint32_t>(dir.get());
  query.query.attach_type = BPF_CGROUP_DEVICE;
  query.query.prog_ids = reinterpret_cast<uint64_t>(ids);
  query.query.prog_cnt = 64;
  uint32_t old_count = Bpf(BPF_PROG_QUERY, &query) == 0 ? query.query.prog_cnt : 0;

  bpf_attr attach;
  memset(&attach, 0, sizeof attach);
  attach.target_fd = static_cast<uint32_t>(dir.get());
  attach.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
  attach.attach_type = BPF_CGROUP_DEVICE;
  attach.attach_flags = BPF_F_ALLOW_MULTI;
  if (Bpf(BPF_PROG_ATTACH, &attach) != 0)
    return Status::FromErrno(errno, "attaching the device filter to " + cgroup_dir);
  for (uint32_t i = 0; i < old_count && i < 64; ++i) {
    bpf_attr get;
    memset(&get, 0, sizeof get);
    get.prog_id = ids[i];
    long old_fd = Bpf(BPF_PROG_GET_FD_BY_ID, &get);
    if (old_fd < 0) continue;
    UniqueFd old_owner(static_cast<int>(old_fd));
    bpf_attr detach;
    memset(&detach, 0, sizeof detach);
    detach.target_fd = static_cast<uint32_t>(dir.get());
    detach.attach_bpf_fd = static_cast<uint32_t>(old_fd);
    detach.attach_type = BPF_CGROUP_DEVICE;
    (void)Bpf(BPF_PROG_DETACH, &detach);
  }
  return Status::Ok();
}

}  // namespace imgfs::runc

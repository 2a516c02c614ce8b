// The pieces of a FUSE connection take-over that need no kernel: the synthesized INIT's bytes,
// the recorded INIT parameters, descriptor passing, and the worker's end of the supervisor
// protocol (against a fake supervisor on a socketpair). The take-over itself runs through the
// kernel in tests/integration/mount/crash.py.
#include "imgfs/daemon/fuse_takeover.h"

#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "gtest/gtest.h"
#include "imgfs/daemon/fd_message.h"
#include "imgfs/daemon/supervisor.h"

namespace imgfs::daemon {
namespace {

TEST(FuseTakeover, SynthesizedInitCarriesTheRecordedParameters) {
  FuseInitParams p;
  p.proto_major = 7;
  p.proto_minor = 41;
  p.max_readahead = 1u << 20;
  p.features = FuseInitParams::kAsyncRead | FuseInitParams::kNoOpendirSupport |
               FuseInitParams::kCacheSymlinks;
  const std::string bytes = SynthesizedInitRequest(p);
  ASSERT_EQ(bytes.size(), sizeof(fuse_in_header) + sizeof(fuse_init_in));
  fuse_in_header h;
  fuse_init_in in;
  std::memcpy(&h, bytes.data(), sizeof h);
  std::memcpy(&in, bytes.data() + sizeof h, sizeof in);
  EXPECT_EQ(h.len, bytes.size());
  EXPECT_EQ(h.opcode, static_cast<uint32_t>(FUSE_INIT));
  EXPECT_EQ(h.unique, kSynthesizedInitUnique);
  // Never a notification (0), an interrupt (odd) or a resent request (bit 63).
  EXPECT_NE(h.unique, 0u);
  EXPECT_EQ(h.unique & 1, 0u);
  EXPECT_EQ(h.unique >> 63, 0u);
  EXPECT_EQ(in.major, 7u);
  EXPECT_EQ(in.minor, 41u);
  EXPECT_EQ(in.max_readahead, 1u << 20);
  EXPECT_EQ(in.flags, static_cast<uint32_t>(FUSE_ASYNC_READ | FUSE_NO_OPENDIR_SUPPORT |
                                            FUSE_CACHE_SYMLINKS | FUSE_MAX_PAGES));
}

TEST(FuseTakeover, InitParamsRoundTripAndRefuseNonsense) {
  FuseInitParams p;
  p.proto_major = 7;
  p.proto_minor = 38;
  p.max_readahead = 131072;
  p.features = FuseInitParams::kReaddirplus;
  auto back = FuseInitParams::FromJson(p.ToJson());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->proto_minor, 38u);
  EXPECT_EQ(back->max_readahead, 131072u);
  EXPECT_EQ(back->features, p.features);
  EXPECT_FALSE(FuseInitParams::FromJson(nlohmann::json::object()).ok());
  EXPECT_FALSE(FuseInitParams::FromJson({{"proto_major", 8}, {"proto_minor", 38}}).ok());
  EXPECT_FALSE(FuseInitParams::FromJson({{"proto_major", 7}, {"proto_minor", -1}}).ok());
  EXPECT_FALSE(FuseInitParams::FromJson({{"proto_major", 7}, {"proto_minor", "38"}}).ok());
  EXPECT_FALSE(FuseInitParams::FromJson(nlohmann::json::array()).ok());
}

struct SocketPair {
  UniqueFd a, b;
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
    a.Reset(fds[0]);
    b.Reset(fds[1]);
  }
};

TEST(FdMessage, PassesTextAndOneDescriptor) {
  SocketPair s;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
  ASSERT_TRUE(SendFdMessage(s.a.get(), "with a pipe", w.get()).ok());
  ASSERT_TRUE(SendFdMessage(s.a.get(), "without").ok());
  auto m1 = ReceiveFdMessage(s.b.get());
  ASSERT_TRUE(m1.ok()) << m1.status().message();
  EXPECT_EQ(m1->text, "with a pipe");
  ASSERT_TRUE(m1->fd.valid());
  EXPECT_NE(m1->fd.get(), w.get());
  EXPECT_EQ(::fcntl(m1->fd.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ASSERT_EQ(::write(m1->fd.get(), "x", 1), 1);  // the same pipe
  char c = 0;
  ASSERT_EQ(::read(r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  auto m2 = ReceiveFdMessage(s.b.get());
  ASSERT_TRUE(m2.ok());
  EXPECT_EQ(m2->text, "without");
  EXPECT_FALSE(m2->fd.valid());
  s.a.Reset();
  auto end = ReceiveFdMessage(s.b.get());
  EXPECT_EQ(end.status().code(), Code::kNotFound);
}

TEST(FdMessage, RefusesTwoDescriptorsAndOversizedText) {
  SocketPair s;
  EXPECT_FALSE(SendFdMessage(s.a.get(), std::string(kMaxFdMessage + 1, 'x')).ok());
  // Two descriptors in one message (not something SendFdMessage makes).
  int fds[2] = {0, 1};
  char text[] = "two";
  iovec iov = {text, 3};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)];
  msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof fds);
  std::memcpy(CMSG_DATA(cm), fds, sizeof fds);
  ASSERT_EQ(::sendmsg(s.a.get(), &msg, 0), 3);
  EXPECT_FALSE(ReceiveFdMessage(s.b.get()).ok());
}

TEST(SupervisorLink, TakesHandedMountsThenHoldsAndReleases) {
  SocketPair s;  // a: the fake supervisor, b: the worker's end
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
  nlohmann::json record = {{"request", {{"mountpoint", "/m"}}}};
  ASSERT_TRUE(SendFdMessage(s.a.get(),
                            nlohmann::json({{"op", "take"}, {"id", 4}, {"record", record}}).dump(),
                            w.get())
                  .ok());
  ASSERT_TRUE(SendFdMessage(s.a.get(), R"({"op":"listener"})", r.get()).ok());
  ASSERT_TRUE(SendFdMessage(s.a.get(), R"({"op":"ready","restarts":3,"next_id":5})").ok());
  auto link = SupervisorLink::Connect(s.b.Release());
  ASSERT_TRUE(link.ok()) << link.status().message();
  EXPECT_EQ((*link)->restarts(), 3u);
  EXPECT_TRUE((*link)->TakeListener().valid());
  EXPECT_FALSE((*link)->TakeListener().valid());
  auto handed = (*link)->TakeHanded();
  ASSERT_EQ(handed.size(), 1u);
  EXPECT_EQ(handed[0].id, 4u);
  EXPECT_EQ(handed[0].record, record);
  EXPECT_TRUE(handed[0].fuse_fd.valid());
  EXPECT_TRUE((*link)->TakeHanded().empty());

  auto id = (*link)->Hold(record, r.get());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 5u);  // after the ids the supervisor still holds
  (*link)->Release(4);
  (*link)->AnnounceExit();
  auto hold = ReceiveFdMessage(s.a.get());
  ASSERT_TRUE(hold.ok());
  EXPECT_TRUE(hold->fd.valid());
  auto j = nlohmann::json::parse(hold->text);
  EXPECT_EQ(j["op"], "hold");
  EXPECT_EQ(j["id"], 5);
  EXPECT_EQ(j["record"], record);
  auto release = ReceiveFdMessage(s.a.get());
  ASSERT_TRUE(release.ok());
  EXPECT_EQ(nlohmann::json::parse(release->text)["id"], 4);
  auto exit = ReceiveFdMessage(s.a.get());
  ASSERT_TRUE(exit.ok());
  EXPECT_EQ(nlohmann::json::parse(exit->text)["op"], "exit");
}

TEST(SupervisorLink, RefusesWhatItDoesNotUnderstand) {
  SocketPair s;
  ASSERT_TRUE(SendFdMessage(s.a.get(), R"({"op":"take","id":1})").ok());  // no descriptor
  EXPECT_FALSE(SupervisorLink::Connect(s.b.Release()).ok());
  SocketPair t;
  t.a.Reset();  // the supervisor died before saying anything
  EXPECT_FALSE(SupervisorLink::Connect(t.b.Release()).ok());
}

}  // namespace
}  // namespace imgfs::daemon

#include "core/flags.h"

#include <gtest/gtest.h>

#include "runc-lite/commands.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

FlagSet MakeFlags() {
  FlagSet f;
  f.String("bundle", ".", {"b"});
  f.String("pid-file");
  f.Bool("detach", {"d"});
  f.List("env", {"e"});
  return f;
}

TEST(FlagSetTest, GoSyntaxVariants) {
  FlagSet f = MakeFlags();
  auto pos = f.Parse({"run", "-b", "/x", "--pid-file=/p", "-d", "--env", "A=1", "-e=B=2", "id", "arg"}, 1);
  ASSERT_TRUE(pos.ok()) << pos.status().ToString();
  EXPECT_EQ(f.GetString("bundle"), "/x");
  EXPECT_EQ(f.GetString("pid-file"), "/p");
  EXPECT_TRUE(f.GetBool("detach"));
  EXPECT_EQ(f.GetList("env"), (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(*pos, (std::vector<std::string>{"id", "arg"}));
}

TEST(FlagSetTest, StopsAtFirstPositionalAndDoubleDash) {
  FlagSet f = MakeFlags();
  auto pos = f.Parse({"id", "-d", "sh"});
  ASSERT_TRUE(pos.ok());
  EXPECT_FALSE(f.GetBool("detach"));
  EXPECT_EQ(pos->size(), 3u);
  FlagSet g = MakeFlags();
  pos = g.Parse({"--", "-d"});
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(*pos, std::vector<std::string>{"-d"});
}

TEST(FlagSetTest, BooleansTakeOnlyInlineValues) {
  FlagSet f = MakeFlags();
  auto pos = f.Parse({"--detach=false", "true"});
  ASSERT_TRUE(pos.ok());
  EXPECT_FALSE(f.GetBool("detach"));
  EXPECT_EQ(*pos, std::vector<std::string>{"true"});
  FlagSet g = MakeFlags();
  EXPECT_FALSE(g.Parse({"--detach=maybe"}).ok());
}

TEST(FlagSetTest, Errors) {
  FlagSet f = MakeFlags();
  auto r = f.Parse({"--nope"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "flag provided but not defined: -nope");
  FlagSet g = MakeFlags();
  EXPECT_FALSE(g.Parse({"--bundle"}).ok()) << "missing value";
  FlagSet h = MakeFlags();
  EXPECT_FALSE(h.Parse({"---x"}).ok());
}

TEST(SignalTest, ParsesNumbersAndNames) {
  EXPECT_EQ(*ParseSignal("9"), 9);
  EXPECT_EQ(*ParseSignal("SIGTERM"), 15);
  EXPECT_EQ(*ParseSignal("TERM"), 15);
  EXPECT_EQ(*ParseSignal("kill"), 9);
  EXPECT_FALSE(ParseSignal("SIGNOPE").ok());
  EXPECT_FALSE(ParseSignal("0").ok());
  EXPECT_FALSE(ParseSignal("99").ok());
}

// Every command answers --help and -h (exit 0) without touching any state.
TEST(CommandLineTest, EveryCommandAnswersHelp) {
  for (const char* cmd : {"create", "run", "start", "kill", "delete", "state", "pause", "resume",
                          "ps", "list", "exec", "update", "features", "spec"}) {
    for (const char* h : {"--help", "-h"}) {
      EXPECT_EQ(RunCommandLine({"runc-lite", "--root", "/nonexistent/runc-lite-test", cmd, h}), 0)
          << cmd << " " << h;
    }
  }
  EXPECT_EQ(RunCommandLine({"runc-lite", "--help"}), 0);
  EXPECT_EQ(RunCommandLine({"runc-lite", "no-such-command"}), 1);
  EXPECT_EQ(RunCommandLine({"runc-lite", "kill"}), 1) << "missing container id";
}

// Numbers are checked before anything else happens (no atoi turning "x" into 0).
TEST(CommandLineTest, BadNumbersAreErrors) {
  const std::string root = "--root=/nonexistent/runc-lite-test";
  EXPECT_EQ(RunCommandLine({"runc-lite", root, "update", "--pids-limit", "x", "id"}), 1);
  EXPECT_EQ(RunCommandLine({"runc-lite", root, "update", "--memory", "12Q", "id"}), 1);
  EXPECT_EQ(RunCommandLine({"runc-lite", root, "update", "--blkio-weight", "5", "id"}), 1);
  EXPECT_EQ(RunCommandLine({"runc-lite", root, "create", "--preserve-fds", "x", "id"}), 1);
  EXPECT_EQ(RunCommandLine({"runc-lite", root, "exec", "--preserve-fds", "-1", "id", "true"}), 1);
}

}  // namespace
}  // namespace imgfs::runc

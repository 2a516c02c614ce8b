// The runc-lite command line: signal names, --help on every command, checked numbers. The flag
// syntax itself is tested with core/flags.h in tests/unit/flags_test.cc.
#include <gtest/gtest.h>

#include "runc-lite/commands.h"
#include "runc-lite/container.h"

namespace imgfs::runc {
namespace {

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

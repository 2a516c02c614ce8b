// The shared flag parser (core/flags.h) in both syntaxes, and the checked number and size
// parsers (core/numbers.h) it hands values to.
#include "core/flags.h"

#include <gtest/gtest.h>

#include "core/numbers.h"

namespace imgfs {
namespace {

FlagSet GoFlags() {
  FlagSet f("tool run [flags] <id>");
  f.String("bundle", ".", {"b"}, "bundle directory");
  f.String("pid-file");
  f.Bool("detach", {"d"}, "do not wait");
  f.List("env", {"e"});
  return f;
}

TEST(FlagSetTest, GoSyntaxVariants) {
  FlagSet f = GoFlags();
  auto pos =
      f.Parse({"run", "-b", "/x", "--pid-file=/p", "-d", "--env", "A=1", "-e=B=2", "id", "-x"}, 1);
  ASSERT_TRUE(pos.ok()) << pos.status().ToString();
  EXPECT_EQ(f.GetString("bundle"), "/x");
  EXPECT_EQ(f.GetString("pid-file"), "/p");
  EXPECT_TRUE(f.GetBool("detach"));
  EXPECT_EQ(f.GetList("env"), (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(*pos, (std::vector<std::string>{"id", "-x"})) << "stops at the first positional";
  EXPECT_FALSE(f.help_requested());
}

TEST(FlagSetTest, StopsAtFirstPositionalAndDoubleDash) {
  FlagSet f = GoFlags();
  auto pos = f.Parse({"id", "-d", "sh"});
  ASSERT_TRUE(pos.ok());
  EXPECT_FALSE(f.GetBool("detach"));
  EXPECT_EQ(pos->size(), 3u);
  FlagSet g = GoFlags();
  pos = g.Parse({"--", "-d"});
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(*pos, std::vector<std::string>{"-d"});
}

TEST(FlagSetTest, GoErrorsAreGoWorded) {
  FlagSet f = GoFlags();
  auto r = f.Parse({"--nope"});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "flag provided but not defined: -nope");
  FlagSet g = GoFlags();
  EXPECT_EQ(g.Parse({"--bundle"}).status().message(), "flag needs an argument: -bundle");
  FlagSet h = GoFlags();
  EXPECT_FALSE(h.Parse({"---x"}).ok());
  FlagSet b = GoFlags();
  EXPECT_FALSE(b.Parse({"--detach=maybe"}).ok());
}

TEST(FlagSetTest, BooleansTakeOnlyInlineValues) {
  FlagSet f = GoFlags();
  auto pos = f.Parse({"--detach=false", "true"});
  ASSERT_TRUE(pos.ok());
  EXPECT_FALSE(f.GetBool("detach"));
  EXPECT_TRUE(f.IsSet("detach"));
  EXPECT_EQ(*pos, std::vector<std::string>{"true"});
}

TEST(FlagSetTest, HelpStopsParsingAndListsFlags) {
  for (const char* h : {"--help", "-h", "-help"}) {
    FlagSet f = GoFlags();
    auto pos = f.Parse({"-d", h, "--no-such-flag"});
    ASSERT_TRUE(pos.ok()) << h;
    EXPECT_TRUE(f.help_requested()) << h;
  }
  std::string usage = GoFlags().Usage();
  EXPECT_NE(usage.find("usage: tool run [flags] <id>"), std::string::npos) << usage;
  EXPECT_NE(usage.find("--bundle, -b VALUE"), std::string::npos) << usage;
  EXPECT_NE(usage.find("bundle directory (default: .)"), std::string::npos) << usage;
  EXPECT_NE(usage.find("--help, -h"), std::string::npos) << usage;
}

TEST(FlagSetTest, GnuSyntaxInterleaved) {
  FlagSet f("", {FlagSet::Syntax::kGnu, /*interleaved=*/true});
  f.String("store");
  f.Bool("foreground", {"f"});
  auto pos = f.Parse({"img", "--store", "/s", "/mnt", "-f", "-", "--", "--store"});
  ASSERT_TRUE(pos.ok()) << pos.status().ToString();
  EXPECT_EQ(f.GetString("store"), "/s");
  EXPECT_TRUE(f.GetBool("foreground"));
  EXPECT_EQ(*pos, (std::vector<std::string>{"img", "/mnt", "-", "--store"}));
  FlagSet g("", {FlagSet::Syntax::kGnu, true});
  g.String("store");
  EXPECT_EQ(g.Parse({"-store", "x"}).status().message(), "unknown option -store")
      << "one dash is for one-letter aliases only";
  EXPECT_EQ(g.Parse({"--nope"}).status().message(), "unknown option --nope");
  EXPECT_EQ(g.Parse({"--store"}).status().message(), "--store needs a value");
}

TEST(FlagSetTest, CheckedNumericValues) {
  FlagSet f;
  f.String("runs");
  f.String("memory");
  ASSERT_TRUE(f.Parse({"--runs", "x", "--memory", "1.5G"}).ok());
  Result<uint64_t> runs = f.GetUint64("runs", 1, 1000);
  ASSERT_FALSE(runs.ok());
  EXPECT_EQ(runs.status().message(), "--runs: \"x\" is not a non-negative integer");
  EXPECT_EQ(*f.GetSize("memory"), 1536ull << 20);
}

TEST(NumbersTest, Uint64) {
  EXPECT_EQ(*ParseUint64("0", 0, 10, "n"), 0u);
  EXPECT_EQ(*ParseUint64("18446744073709551615", 0, UINT64_MAX, "n"), UINT64_MAX);
  EXPECT_FALSE(ParseUint64("18446744073709551616", 0, UINT64_MAX, "n").ok()) << "overflow";
  for (const char* bad : {"", " 1", "1 ", "+1", "-1", "1.0", "0x10", "1e3", "x"})
    EXPECT_FALSE(ParseUint64(bad, 0, UINT64_MAX, "n").ok()) << "'" << bad << "'";
  Result<uint64_t> big = ParseUint64("11", 1, 10, "--pids-limit");
  EXPECT_EQ(big.status().message(), "--pids-limit: \"11\" is out of range (1..10)");
}

TEST(NumbersTest, Int64) {
  EXPECT_EQ(*ParseInt64("-1", -1, 5, "n"), -1);
  EXPECT_EQ(*ParseInt64("-9223372036854775808", INT64_MIN, INT64_MAX, "n"), INT64_MIN);
  EXPECT_EQ(*ParseInt64("9223372036854775807", INT64_MIN, INT64_MAX, "n"), INT64_MAX);
  EXPECT_FALSE(ParseInt64("9223372036854775808", INT64_MIN, INT64_MAX, "n").ok());
  EXPECT_FALSE(ParseInt64("-9223372036854775809", INT64_MIN, INT64_MAX, "n").ok());
  EXPECT_FALSE(ParseInt64("-2", -1, 5, "n").ok());
  for (const char* bad : {"", "-", "--1", "1x", "+3"})
    EXPECT_FALSE(ParseInt64(bad, INT64_MIN, INT64_MAX, "n").ok()) << "'" << bad << "'";
}

TEST(NumbersTest, Sizes) {
  EXPECT_EQ(*ParseSize("4096", "s"), 4096u);
  EXPECT_EQ(*ParseSize("10G", "s"), 10ull << 30);
  EXPECT_EQ(*ParseSize("512MiB", "s"), 512ull << 20);
  EXPECT_EQ(*ParseSize("64m", "s"), 64ull << 20);
  EXPECT_EQ(*ParseSize("1kb", "s"), 1024u);
  EXPECT_EQ(*ParseSize("7B", "s"), 7u);
  EXPECT_EQ(*ParseSize("1.5K", "s"), 1536u);
  EXPECT_EQ(*ParseSize("0.1K", "s"), 102u) << "fractions of a byte dropped";
  EXPECT_FALSE(ParseSize("15E", "s").ok()) << "no exa unit";
  EXPECT_EQ(*ParseSize("16383P", "s"), 16383ull << 50);
  EXPECT_FALSE(ParseSize("16384P", "s").ok()) << "2^64 overflows";
  EXPECT_FALSE(ParseSize("1.5", "s").ok()) << "a fraction of a byte";
  for (const char* bad : {"", "G", ".5G", "1.G", "-1", "1 G", "1GG", "1Gi", "1Bb", "x", "1e9"})
    EXPECT_FALSE(ParseSize(bad, "s").ok()) << "'" << bad << "'";
  Result<uint64_t> r = ParseSize("10X", "--cache-size");
  EXPECT_EQ(
      r.status().message(),
      "--cache-size: \"10X\" has an unknown unit (use B, K, M, G, T or P, e.g. 512M or 10GiB)");
  EXPECT_FALSE(ParseSize("2K", "s", 2047).ok()) << "above MAX";
}

}  // namespace
}  // namespace imgfs

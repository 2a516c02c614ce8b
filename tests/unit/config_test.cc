#include "imgfs/cli/config.h"

#include <gtest/gtest.h>

#include "imgfs/cli/args.h"

namespace imgfs::cli {
namespace {

std::string SourceOf(const Config& c, const std::string& key) {
  for (const Setting& s : c.settings())
    if (s.key == key) return s.source;
  return "missing";
}

TEST(ConfigTest, DefaultsWithoutFileOrEnvironment) {
  auto c = Config::LoadText("", "", {});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->Get("store"), "/var/lib/imgfs");
  EXPECT_EQ(c->Get("log.level"), "info");
  EXPECT_EQ(c->Get("trace.seconds"), "30");
  EXPECT_EQ(SourceOf(*c, "store"), "default");
  EXPECT_EQ(c->file(), "");
}

TEST(ConfigTest, FileThenEnvironmentEachWithItsSource) {
  auto c = Config::LoadText(
      "store = \"/srv/imgfs\"\ncache_size = \"2G\"\n\n[log]\nlevel = \"debug\"\nmax_size = "
      "1048576\n"
      "[trace]\nmode = \"replay\"\n",
      "/etc/imgfs/config.toml", {"IMGFS_CACHE_SIZE=512M", "IMGFS_UNRELATED=x", "IMGFS_STORE="});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->Get("store"), "/srv/imgfs");
  EXPECT_EQ(SourceOf(*c, "store"), "/etc/imgfs/config.toml:1");
  EXPECT_EQ(c->Get("cache_size"), "512M");
  EXPECT_EQ(SourceOf(*c, "cache_size"), "$IMGFS_CACHE_SIZE");
  EXPECT_EQ(c->Get("log.level"), "debug");
  EXPECT_EQ(SourceOf(*c, "log.level"), "/etc/imgfs/config.toml:5");
  EXPECT_EQ(c->Get("log.max_size"), "1048576");
  EXPECT_EQ(c->Get("trace.mode"), "replay");
}

TEST(ConfigTest, FlagWinsOverEverything) {
  auto c = Config::LoadText("remote = \"file:///a\"\n", "/c.toml", {"IMGFS_REMOTE=file:///b"});
  ASSERT_TRUE(c.ok());
  Args with, without;
  with.values["remote"] = "file:///c";
  EXPECT_EQ(c->FlagOr(with, "remote", "remote"), "file:///c");
  EXPECT_EQ(c->FlagOr(without, "remote", "remote"), "file:///b");
}

TEST(ConfigTest, EveryMistakeIsOneLineNamingFileLineAndKey) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"stor = \"/x\"\n", "/c.toml:1: unknown key 'stor'"},
      {"\n[log]\nlevel = \"loud\"\n", "/c.toml:3: log.level: log level 'loud'"},
      {"cache_size = \"lots\"\n", "/c.toml:1: cache_size:"},
      {"[trace]\nseconds = 0\n", "/c.toml:2: trace.seconds:"},
      {"[trace]\nmode = \"sometimes\"\n", "/c.toml:2: trace.mode: 'sometimes'"},
      {"store = \"relative/dir\"\n", "/c.toml:1: store: not an absolute path"},
      {"store = [1, 2]\n", "/c.toml:1: store: want a string or a number"},
      {"store = \"/x\"\nstore = \"/y\"\n", "config /c.toml:2:"},
      {"[log\n", "config /c.toml:1:"},
  };
  for (const Case& k : cases) {
    auto c = Config::LoadText(k.text, "/c.toml", {});
    ASSERT_FALSE(c.ok()) << k.text;
    EXPECT_NE(c.status().message().find(k.want), std::string::npos)
        << k.text << " -> " << c.status().message();
    EXPECT_EQ(c.status().message().find('\n'), std::string::npos) << c.status().message();
  }
}

TEST(ConfigTest, BadEnvironmentValueNamesTheVariable) {
  auto c = Config::LoadText("", "", {"IMGFS_LOG_FORMAT=xml"});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("$IMGFS_LOG_FORMAT: log.format"), std::string::npos)
      << c.status().message();
}

}  // namespace
}  // namespace imgfs::cli

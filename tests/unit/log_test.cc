#include "core/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace imgfs {
namespace {

TEST(LogTest, TextLineKeepsItsShapeAndQuotesFields) {
  EXPECT_EQ(FormatLogLine(LogFormat::kText, LogLevel::kWarning, "x y", {}, "t"),
            "imgfs: warning: x y");
  EXPECT_EQ(FormatLogLine(LogFormat::kText, LogLevel::kInfo, "m", {{"mount", "/a b"}}, "t"),
            "imgfs: info: m mount=\"/a b\"");
}

TEST(LogTest, JsonLineIsOneObjectWithTheFields) {
  std::string line =
      FormatLogLine(LogFormat::kJson, LogLevel::kError, "bad \"x\"\n",
                    {{"mount", "/m"}, {"image", "sha256:ab"}}, "2026-01-01T00:00:00Z");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["msg"], "bad \"x\"\n");
  EXPECT_EQ(j["mount"], "/m");
  EXPECT_EQ(j["image"], "sha256:ab");
  EXPECT_EQ(j["time"], "2026-01-01T00:00:00Z");
}

TEST(LogTest, JsonSurvivesInvalidUtf8) {
  std::string line = FormatLogLine(LogFormat::kJson, LogLevel::kInfo, "name \xff\xfe", {}, "t");
  EXPECT_TRUE(nlohmann::json::accept(line)) << line;
}

TEST(LogTest, ParsesLevelsAndFormats) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("xml").ok());
}

TEST(LogTest, ScopedFieldsNestAndEnd) {
  LogFields outer = {{"mount", "/a"}}, inner = {{"mount", "/b"}};
  // Observed through a real log file: fd 2 of this test process is swapped and restored.
  std::string dir = ::testing::TempDir() + "/log_test_fields";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  int saved = ::dup(STDERR_FILENO);
  ASSERT_TRUE(SetLogRotation(dir + "/log", 0).ok());
  {
    ScopedLogFields a(&outer);
    LogLine(LogLevel::kWarning, "one");
    {
      ScopedLogFields b(&inner);
      LogLine(LogLevel::kWarning, "two");
    }
    LogLine(LogLevel::kWarning, "three");
  }
  LogLine(LogLevel::kWarning, "four");
  ASSERT_TRUE(SetLogRotation("", 0).ok());
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::ifstream in(dir + "/log");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(all,
            "imgfs: warning: one mount=\"/a\"\nimgfs: warning: two mount=\"/b\"\n"
            "imgfs: warning: three mount=\"/a\"\nimgfs: warning: four\n");
}

TEST(LogTest, RotatesPastTheLimitKeepingOneOldFile) {
  std::string dir = ::testing::TempDir() + "/log_test_rotate";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  int saved = ::dup(STDERR_FILENO);
  ASSERT_TRUE(SetLogRotation(dir + "/daemon.log", 100).ok());
  for (int i = 0; i < 30; ++i) LogLine(LogLevel::kError, "line number " + std::to_string(i));
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  EXPECT_LE(std::filesystem::file_size(dir + "/daemon.log"), 100u + 40u);
  EXPECT_LE(std::filesystem::file_size(dir + "/daemon.log.1"), 100u + 40u);
  EXPECT_FALSE(std::filesystem::exists(dir + "/daemon.log.2"));
  std::ifstream in(dir + "/daemon.log");
  std::string all((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(all.find("line number 29"), std::string::npos);
  ASSERT_TRUE(SetLogRotation("", 0).ok());
}

}  // namespace
}  // namespace imgfs

// The CRI log format reader (tools/cri/cri_log.h): records, partial lines, records split
// across reads, malformed records.
#include "tools/cri/cri_log.h"

#include <gtest/gtest.h>

namespace imgfs::cri {
namespace {

TEST(CriLogTest, ParsesARecord) {
  Result<LogRecord> r = ParseLogRecord("2016-10-06T00:17:09.669794202Z stdout F hello world");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->timestamp, "2016-10-06T00:17:09.669794202Z");
  EXPECT_EQ(r->stream, Stream::kStdout);
  EXPECT_FALSE(r->partial);
  EXPECT_EQ(r->content, "hello world");
}

TEST(CriLogTest, EmptyContentAndExtraTagFields) {
  Result<LogRecord> r = ParseLogRecord("2024-01-01T00:00:00Z stderr F");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->stream, Stream::kStderr);
  EXPECT_EQ(r->content, "");
  r = ParseLogRecord("2024-01-01T00:00:00Z stdout P:x  two spaces");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->partial);
  EXPECT_EQ(r->content, " two spaces");
}

TEST(CriLogTest, RejectsMalformedRecords) {
  for (const char* bad : {"", "no-spaces", "2024-01-01T00:00:00Z stdin F x",
                          "2024-01-01T00:00:00Z stdout X x", "2024-01-01T00:00:00Z stdout"}) {
    Result<LogRecord> r = ParseLogRecord(bad);
    EXPECT_EQ(r.status().code(), Code::kCorruption) << bad;
  }
}

TEST(CriLogTest, JoinsPartialRecordsPerStreamAcrossReads) {
  CriLogReader reader;
  const std::string log =
      "T stdout P hel\n"
      "T stderr F oops\n"
      "T stdout P lo \n"
      "T stdout F world\n"
      "T stdout F second\n"
      "T stderr P unfinished";
  std::vector<OutputLine> lines;
  // One byte at a time: a record split anywhere is still whole once its newline comes.
  for (char c : log) {
    Result<std::vector<OutputLine>> got = reader.Feed(std::string_view(&c, 1));
    ASSERT_TRUE(got.ok()) << got.status().message();
    lines.insert(lines.end(), got->begin(), got->end());
  }
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].stream, Stream::kStderr);
  EXPECT_EQ(lines[0].text, "oops\n");
  EXPECT_EQ(lines[1].stream, Stream::kStdout);
  EXPECT_EQ(lines[1].text, "hello world\n");
  EXPECT_EQ(lines[2].text, "second\n");
  // The last record has no newline: it is not a record yet, so nothing is open.
  EXPECT_TRUE(reader.Flush().empty());
  Result<std::vector<OutputLine>> more = reader.Feed("\n");
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(more->empty());
  std::vector<OutputLine> open = reader.Flush();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].stream, Stream::kStderr);
  EXPECT_EQ(open[0].text, "unfinished");
}

TEST(CriLogTest, AMalformedRecordIsAnError) {
  CriLogReader reader;
  Result<std::vector<OutputLine>> got = reader.Feed("T stdout F ok\ngarbage\n");
  EXPECT_FALSE(got.ok());
}

}  // namespace
}  // namespace imgfs::cri

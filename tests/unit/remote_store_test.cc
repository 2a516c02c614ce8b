// The file:// remote store and OpenRemoteStore's URL dispatch. HTTP is tested against real
// servers in tests/integration/remote/.
#include "imgfs/remote_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <random>
#include <string>

namespace imgfs {
namespace {

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class FileRemoteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imgfs-remote-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    auto r = remote::OpenRemoteStore("file://" + dir_ + "/remote");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    remote_ = std::move(r).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
  std::unique_ptr<remote::RemoteStore> remote_;
};

TEST(OpenRemoteStoreTest, DispatchesOnScheme) {
  EXPECT_TRUE(remote::OpenRemoteStore("file:///tmp/x").ok());
  EXPECT_TRUE(remote::OpenRemoteStore("/tmp/x").ok());
  EXPECT_TRUE(remote::OpenRemoteStore("http://127.0.0.1:1/base/").ok());  // no I/O at open
  EXPECT_TRUE(remote::OpenRemoteStore("https://example.invalid").ok());
  EXPECT_EQ(remote::OpenRemoteStore("relative/dir").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(remote::OpenRemoteStore("file://relative").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(remote::OpenRemoteStore("ftp://host/x").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(remote::OpenRemoteStore("http://").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(remote::OpenRemoteStore("http://h/x?query").status().code(), Code::kInvalidArgument);
  remote::RemoteOptions bad;
  bad.max_attempts = 0;
  EXPECT_EQ(remote::OpenRemoteStore("/tmp/x", bad).status().code(), Code::kInvalidArgument);
}

TEST(OpenRemoteStoreTest, DescribeNamesTheBaseWithoutCredentials) {
  EXPECT_EQ((*remote::OpenRemoteStore("file:///srv/imgfs/"))->Describe(), "file:///srv/imgfs");
  EXPECT_EQ((*remote::OpenRemoteStore("http://127.0.0.1:8080/base/"))->Describe(),
            "http://127.0.0.1:8080/base");
  std::string d = (*remote::OpenRemoteStore("https://user:secret@host/x"))->Describe();
  EXPECT_EQ(d.find("secret"), std::string::npos) << d;
}

TEST_F(FileRemoteStoreTest, WritesContentAddressedObjectsAndReadsRanges) {
  std::string blob = RandomBytes(300000, 1);
  Digest d = Sha256(blob);
  EXPECT_FALSE(*remote_->HasBlob(d));
  ASSERT_TRUE(remote_->WriteBlob(d, blob).ok());
  EXPECT_TRUE(*remote_->HasBlob(d));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ + "/remote/blobs/sha256/" + d.Hex()));

  for (auto [off, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 1}, {0, blob.size()}, {12345, 65536}, {blob.size() - 1, 1}, {100, 0}}) {
    auto r = remote_->ReadBlobRange(d, off, len);
    ASSERT_TRUE(r.ok()) << off << "+" << len << ": " << r.status().ToString();
    EXPECT_EQ(*r, blob.substr(off, len)) << off << "+" << len;
  }
  auto whole = remote_->ReadBlob(d, blob.size());
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(*whole, blob);
}

TEST_F(FileRemoteStoreTest, RangePastTheEndIsCorruption) {
  std::string blob = "0123456789";
  Digest d = Sha256(blob);
  ASSERT_TRUE(remote_->WriteBlob(d, blob).ok());
  EXPECT_EQ(remote_->ReadBlobRange(d, 5, 6).status().code(), Code::kCorruption);
  EXPECT_EQ(remote_->ReadBlobRange(d, 10, 1).status().code(), Code::kCorruption);
  EXPECT_EQ(remote_->ReadBlobRange(d, UINT64_MAX, 2).status().code(), Code::kInvalidArgument);
}

TEST_F(FileRemoteStoreTest, MissingObjectsAreNotFoundAndNamed) {
  Digest d = Sha256("absent");
  auto range = remote_->ReadBlobRange(d, 0, 1);
  EXPECT_EQ(range.status().code(), Code::kNotFound);
  EXPECT_NE(range.status().message().find(d.Hex()), std::string::npos) << range.status().message();
  EXPECT_EQ(remote_->ReadBlob(d, 100).status().code(), Code::kNotFound);
  EXPECT_EQ(remote_->ReadTrace(d, 100).status().code(), Code::kNotFound);
  auto has = remote_->HasBlob(d);
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE(*has);
}

TEST_F(FileRemoteStoreTest, ReadBlobRefusesMoreThanMaxSize) {
  std::string blob(1000, 'x');
  Digest d = Sha256(blob);
  ASSERT_TRUE(remote_->WriteBlob(d, blob).ok());
  EXPECT_EQ(remote_->ReadBlob(d, 999).status().code(), Code::kResourceExhausted);
  EXPECT_TRUE(remote_->ReadBlob(d, 1000).ok());
}

TEST_F(FileRemoteStoreTest, WriteIsIdempotentAndLeavesNoTemporaries) {
  std::string blob = RandomBytes(5000, 2);
  Digest d = Sha256(blob);
  ASSERT_TRUE(remote_->WriteBlob(d, blob).ok());
  ASSERT_TRUE(remote_->WriteBlob(d, blob).ok());
  int files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/remote"))
    if (e.is_regular_file()) {
      ++files;
      EXPECT_EQ(e.path().filename(), d.Hex());
    }
  EXPECT_EQ(files, 1);
}

TEST_F(FileRemoteStoreTest, TracesAreStoredBesideTheIndexAndReplaced) {
  Digest index = Sha256("index");
  ASSERT_TRUE(remote_->WriteTrace(index, "first").ok());
  EXPECT_TRUE(std::filesystem::is_regular_file(dir_ + "/remote/traces/sha256/" + index.Hex()));
  EXPECT_EQ(*remote_->ReadTrace(index, 100), "first");
  ASSERT_TRUE(remote_->WriteTrace(index, "second trace").ok());
  EXPECT_EQ(*remote_->ReadTrace(index, 100), "second trace");
  EXPECT_EQ(remote_->ReadTrace(index, 3).status().code(), Code::kResourceExhausted);
  EXPECT_FALSE(*remote_->HasBlob(index));  // traces are not blobs
}

TEST_F(FileRemoteStoreTest, UnwritableBaseIsAnError) {
  std::string file = dir_ + "/plainfile";
  {
    FILE* f = fopen(file.c_str(), "w");
    ASSERT_TRUE(f);
    fclose(f);
  }
  auto r = remote::OpenRemoteStore(file);
  ASSERT_TRUE(r.ok());
  Status s = (*r)->WriteBlob(Sha256("x"), "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(file), std::string::npos) << s.message();
}

}  // namespace
}  // namespace imgfs

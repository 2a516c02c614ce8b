// The http:// remote store against real servers on 127.0.0.1, started by run_remote_test.py:
//   FaultServer*  tests/integration/remote/faultserver.py  (IMGFS_TEST_FAULT_URL, _FAULT_LOG)
//   Nginx*        nginx with dav_methods PUT                (IMGFS_TEST_NGINX_URL, _NGINX_ROOT)
// A suite whose server is not given is skipped; the driver always gives it.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "imgfs/push.h"
#include "imgfs/remote_store.h"
#include "tests/unit/remote_test_util.h"

namespace imgfs {
namespace {

using Clock = std::chrono::steady_clock;
using testing::RandomBytes;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Small timeouts so fault tests are quick; generous enough for a loaded CI machine.
remote::RemoteOptions FastOptions() {
  remote::RemoteOptions o;
  o.connect_timeout = std::chrono::milliseconds(1000);
  o.request_timeout = std::chrono::milliseconds(2000);
  o.max_attempts = 3;
  o.initial_backoff = std::chrono::milliseconds(50);
  o.ca_file = Env("IMGFS_TEST_CA_FILE");  // an https server's own CA (run_remote_test.py)
  return o;
}

class FaultServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = Env("IMGFS_TEST_FAULT_URL");
    log_ = Env("IMGFS_TEST_FAULT_LOG");
    if (url_.empty()) GTEST_SKIP() << "IMGFS_TEST_FAULT_URL not set (run via run_remote_test.py)";
    // A token of its own per test, so its requests can be counted apart in the server's log.
    token_ = std::string(::testing::UnitTest::GetInstance()->current_test_info()->name());
    for (char& c : token_)
      if (!isalnum(static_cast<unsigned char>(c))) c = '_';
    blob_ = RandomBytes(2u << 20, 42);
    digest_ = Sha256(blob_);
    ASSERT_TRUE(Open("ok")->WriteBlob(digest_, blob_).ok());
  }

  std::unique_ptr<remote::RemoteStore> Open(const std::string& scenario,
                                            remote::RemoteOptions options = FastOptions()) {
    auto r = remote::OpenRemoteStore(url_ + "/s/" + token_ + "/" + scenario, options);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  struct LogLine {
    std::string method, scenario, port, range, object;
  };
  std::vector<LogLine> Requests(const std::string& scenario) {
    std::vector<LogLine> out;
    std::ifstream in(log_);
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string token;
      LogLine l;
      fields >> token >> l.method >> l.scenario >> l.port >> l.range >> l.object;
      if (token == token_ && l.scenario == scenario) out.push_back(l);
    }
    return out;
  }

  std::string url_, log_, token_, blob_;
  Digest digest_;
};

TEST_F(FaultServerTest, RangesAreExactAndConnectionsReused) {
  auto remote = Open("ok");
  for (int i = 0; i < 20; ++i) {
    uint64_t off = (i * 104729u) % (blob_.size() - 70000), len = 1 + i * 3000;
    auto r = remote->ReadBlobRange(digest_, off, len);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_EQ(*r, blob_.substr(off, len)) << off << "+" << len;
  }
  auto tail = remote->ReadBlobRange(digest_, blob_.size() - 1, 1);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, blob_.substr(blob_.size() - 1));
  auto whole = remote->ReadBlob(digest_, blob_.size());
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(*whole, blob_);
  std::set<std::string> ports;
  for (const auto& l : Requests("ok"))
    if (l.method == "GET") ports.insert(l.port);
  EXPECT_EQ(ports.size(), 1u) << "sequential requests should reuse one connection";
}

TEST_F(FaultServerTest, ParallelReadsStayWithinMaxConnections) {
  remote::RemoteOptions o = FastOptions();
  o.max_connections = 3;
  auto remote = Open("ok", o);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        uint64_t off = (t * 7919u + i * 65537u) % (blob_.size() - 20000), len = 20000;
        auto r = remote->ReadBlobRange(digest_, off, len);
        if (!r.ok() || *r != blob_.substr(off, len)) ++bad;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  std::set<std::string> ports;
  for (const auto& l : Requests("ok"))
    if (l.method == "GET") ports.insert(l.port);
  EXPECT_LE(ports.size(), 3u);
}

TEST_F(FaultServerTest, PutThenHead) {
  auto remote = Open("ok");
  std::string small = "a small blob";
  Digest d = Sha256(small);
  EXPECT_FALSE(*remote->HasBlob(d));
  ASSERT_TRUE(remote->WriteBlob(d, small).ok());
  EXPECT_TRUE(*remote->HasBlob(d));
  ASSERT_TRUE(remote->WriteBlob(d, small).ok());  // exists: HEAD only, no second PUT
  int puts = 0;
  for (const auto& l : Requests("ok"))
    puts += l.method == "PUT" && l.object.find(d.Hex()) != std::string::npos;
  EXPECT_EQ(puts, 1);
  ASSERT_TRUE(remote->WriteTrace(d, "trace v1").ok());
  ASSERT_TRUE(remote->WriteTrace(d, "trace v2").ok());
  EXPECT_EQ(*remote->ReadTrace(d, 100), "trace v2");
  EXPECT_EQ(remote->ReadTrace(d, 3).status().code(), Code::kResourceExhausted);
}

TEST_F(FaultServerTest, MissingBlobIsNotFoundWithoutRetries) {
  auto remote = Open("ok");
  Digest absent = Sha256("absent");
  auto r = remote->ReadBlobRange(absent, 0, 10);
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  EXPECT_NE(r.status().message().find(url_ + "/s/" + token_ + "/ok/blobs/sha256/" + absent.Hex()),
            std::string::npos)
      << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  EXPECT_EQ(remote->ReadBlob(absent, 100).status().code(), Code::kNotFound);
  EXPECT_FALSE(*remote->HasBlob(absent));
  int gets = 0;
  for (const auto& l : Requests("ok")) gets += l.object.find(absent.Hex()) != std::string::npos;
  EXPECT_EQ(gets, 3);  // one per call
  EXPECT_EQ(Open("404")->ReadBlobRange(digest_, 0, 10).status().code(), Code::kNotFound);
}

TEST_F(FaultServerTest, ConnectionRefusedIsUnavailableAfterRetries) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(s, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ::close(s);  // bound, never listened: nothing answers on this port
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/base";
  auto remote = remote::OpenRemoteStore(url, FastOptions());
  ASSERT_TRUE(remote.ok());
  auto t0 = Clock::now();
  auto r = (*remote)->ReadBlobRange(digest_, 0, 10);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_TRUE(r.status().retryable());
  EXPECT_NE(r.status().message().find(url), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("3 attempts"), std::string::npos) << r.status().message();
  EXPECT_LT(SecondsSince(t0), 10.0);
  EXPECT_EQ((*remote)->WriteBlob(digest_, blob_).code(), Code::kUnavailable);
  EXPECT_EQ((*remote)->HasBlob(digest_).status().code(), Code::kUnavailable);
}

TEST_F(FaultServerTest, ServiceUnavailableIsRetried) {
  auto r = Open("503x2")->ReadBlobRange(digest_, 1000, 5000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, blob_.substr(1000, 5000));
  EXPECT_EQ(Requests("503x2").size(), 3u);
}

TEST_F(FaultServerTest, ServiceUnavailableBeyondAttemptsIsUnavailable) {
  auto r = Open("503x9")->ReadBlobRange(digest_, 0, 10);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("HTTP 503"), std::string::npos) << r.status().message();
  EXPECT_EQ(Requests("503x9").size(), 3u);  // max_attempts
}

TEST_F(FaultServerTest, PutIsRetriedAfterServerErrors) {
  std::string data = RandomBytes(100000, 9);
  Digest d = Sha256(data);
  ASSERT_TRUE(Open("503x2")->WriteBlob(d, data).ok());
  auto back = Open("ok")->ReadBlob(d, data.size());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
}

TEST_F(FaultServerTest, DroppedConnectionIsRetried) {
  auto r = Open("reset2")->ReadBlobRange(digest_, 7, 70000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, blob_.substr(7, 70000));
  EXPECT_EQ(Requests("reset2").size(), 3u);
}

TEST_F(FaultServerTest, HangingServerIsBoundedByTimeouts) {
  remote::RemoteOptions o = FastOptions();
  o.request_timeout = std::chrono::milliseconds(1000);
  o.max_attempts = 2;
  auto remote = Open("hang", o);
  auto t0 = Clock::now();
  auto r = remote->ReadBlobRange(digest_, 0, 100);
  double took = SecondsSince(t0);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_GE(took, 1.5);   // it did wait for the server, twice
  EXPECT_LT(took, 30.0);  // and no longer than the bound (about 2 s here)
  EXPECT_EQ(Requests("hang").size(), 2u);
  t0 = Clock::now();
  EXPECT_EQ(remote->HasBlob(digest_).status().code(), Code::kUnavailable);
  EXPECT_LT(SecondsSince(t0), 30.0);
}

TEST_F(FaultServerTest, StalledBodyIsBoundedByTimeouts) {
  remote::RemoteOptions o = FastOptions();
  o.request_timeout = std::chrono::milliseconds(1000);
  o.max_attempts = 2;
  auto t0 = Clock::now();
  auto r = Open("stall", o)->ReadBlobRange(digest_, 0, 1u << 20);
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
  EXPECT_LT(SecondsSince(t0), 30.0);
}

TEST_F(FaultServerTest, ServerIgnoringRangeIsSliced) {
  auto remote = Open("norange");
  for (auto [off, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 100}, {123457, 65536}, {blob_.size() - 5, 5}, {0, blob_.size()}}) {
    auto r = remote->ReadBlobRange(digest_, off, len);
    ASSERT_TRUE(r.ok()) << off << "+" << len << ": " << r.status().ToString();
    EXPECT_EQ(*r, blob_.substr(off, len)) << off << "+" << len;
  }
  // Past the end of the whole body: the answer is short.
  EXPECT_EQ(remote->ReadBlobRange(digest_, blob_.size() - 5, 10).status().code(),
            Code::kCorruption);
  // The connection cut after the slice does not break the next call.
  auto again = remote->ReadBlobRange(digest_, 10, 10);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, blob_.substr(10, 10));
}

TEST_F(FaultServerTest, WrongBytesAreReturnedAsServedForTheCallerToCatch) {
  auto r = Open("wrong")->ReadBlobRange(digest_, 500, 1000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1000u);
  EXPECT_NE(*r, blob_.substr(500, 1000));
  EXPECT_EQ(static_cast<uint8_t>((*r)[0]), static_cast<uint8_t>(blob_[500] ^ 0xFF));
  auto whole = Open("wrong")->ReadBlob(digest_, blob_.size());
  ASSERT_TRUE(whole.ok());
  EXPECT_NE(Sha256(*whole), digest_);  // what a caller's verification sees
}

TEST_F(FaultServerTest, ShortOrMisplacedRangeIsCorruption) {
  auto shortr = Open("short")->ReadBlobRange(digest_, 100, 1000);
  EXPECT_EQ(shortr.status().code(), Code::kCorruption) << shortr.status().ToString();
  auto bad = Open("badrange")->ReadBlobRange(digest_, 100, 1000);
  EXPECT_EQ(bad.status().code(), Code::kCorruption) << bad.status().ToString();
  auto past = Open("ok")->ReadBlobRange(digest_, blob_.size(), 10);
  EXPECT_EQ(past.status().code(), Code::kCorruption) << past.status().ToString();
}

TEST_F(FaultServerTest, ReadBlobRefusesMoreThanMaxSize) {
  auto r = Open("ok")->ReadBlob(digest_, blob_.size() - 1);
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted) << r.status().ToString();
}

// Push a converted image, then read it back through a server that honours Range and through
// one that ignores it.
class HttpPushTest {
 public:
  static void Run(const std::string& url, const std::string& read_url) {
    char tmpl[] = "/tmp/imgfs-httppush-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    testing::MakeSourceTree(dir + "/src", 11);
    {
      auto store = store::LocalStore::Open(dir + "/store");
      ASSERT_TRUE(store.ok()) << store.status().ToString();
      auto index = testing::ConvertTree(dir + "/src", **store);
      ASSERT_TRUE(index);
      auto remote = remote::OpenRemoteStore(url, FastOptions());
      ASSERT_TRUE(remote.ok());
      remote::PushStats stats;
      std::string trace = "trace of " + index->digest().ToString();
      Status s = remote::PushImage(*index, **store, **remote, &trace, &stats);
      ASSERT_TRUE(s.ok()) << s.ToString();
      EXPECT_EQ(stats.packs_uploaded, index->pack_count());
      EXPECT_TRUE(stats.index_uploaded);
      auto reader = remote::OpenRemoteStore(read_url, FastOptions());
      ASSERT_TRUE(reader.ok());
      testing::ExpectImageReadableFrom(*index, **reader);
      EXPECT_EQ(*(*reader)->ReadTrace(index->digest(), 1000), trace);
      remote::PushStats again;
      ASSERT_TRUE(remote::PushImage(*index, **store, **remote, nullptr, &again).ok());
      EXPECT_EQ(again.packs_uploaded, 0u);
      EXPECT_EQ(again.packs_skipped, index->pack_count());
      EXPECT_FALSE(again.index_uploaded);
    }
    std::filesystem::remove_all(dir);
  }
};

TEST_F(FaultServerTest, PushAndReadBackEveryChunk) {
  HttpPushTest::Run(url_ + "/s/" + token_ + "/ok", url_ + "/s/" + token_ + "/norange");
}

class NginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = Env("IMGFS_TEST_NGINX_URL");
    root_ = Env("IMGFS_TEST_NGINX_ROOT");
    if (url_.empty()) GTEST_SKIP() << "IMGFS_TEST_NGINX_URL not set (run via run_remote_test.py)";
  }
  std::string url_, root_;
};

TEST_F(NginxTest, BlobsRangesTracesAndErrors) {
  auto remote = remote::OpenRemoteStore(url_ + "/store1/", FastOptions());
  ASSERT_TRUE(remote.ok());
  std::string blob = RandomBytes(3u << 20, 5);
  Digest d = Sha256(blob);
  EXPECT_FALSE(*(*remote)->HasBlob(d));
  EXPECT_EQ((*remote)->ReadBlobRange(d, 0, 1).status().code(), Code::kNotFound);
  ASSERT_TRUE((*remote)->WriteBlob(d, blob).ok());
  EXPECT_TRUE(*(*remote)->HasBlob(d));
  EXPECT_TRUE(std::filesystem::is_regular_file(root_ + "/store1/blobs/sha256/" + d.Hex()));
  for (auto [off, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {0, 1}, {1, 65536}, {2000000, 1000000}, {blob.size() - 1, 1}}) {
    auto r = (*remote)->ReadBlobRange(d, off, len);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, blob.substr(off, len));
  }
  EXPECT_EQ((*remote)->ReadBlobRange(d, blob.size(), 1).status().code(), Code::kCorruption);
  EXPECT_EQ((*remote)->ReadBlobRange(d, blob.size() - 1, 2).status().code(), Code::kCorruption);
  EXPECT_EQ(*(*remote)->ReadBlob(d, blob.size()), blob);
  ASSERT_TRUE((*remote)->WriteTrace(d, "one").ok());
  ASSERT_TRUE((*remote)->WriteTrace(d, "two, longer").ok());  // replaces (nginx: 204)
  EXPECT_EQ(*(*remote)->ReadTrace(d, 100), "two, longer");
}

TEST_F(NginxTest, HttpsTrustsOnlyTheGivenAuthority) {
  if (!url_.starts_with("https://")) GTEST_SKIP() << "plain http server";
  remote::RemoteOptions untrusting = FastOptions();
  untrusting.ca_file.clear();  // the system's CAs do not know this server's certificate
  auto remote = remote::OpenRemoteStore(url_ + "/store1/", untrusting);
  ASSERT_TRUE(remote.ok());
  auto has = (*remote)->HasBlob(Sha256("anything"));
  ASSERT_FALSE(has.ok()) << "a server with an unknown certificate was trusted";
  EXPECT_NE(has.status().message().find("certificate"), std::string::npos)
      << has.status().ToString();
  remote::RemoteOptions missing = FastOptions();
  missing.ca_file = "/nonexistent/ca.pem";
  EXPECT_FALSE(remote::OpenRemoteStore(url_, missing).ok());
}

TEST_F(NginxTest, PushAndReadBackEveryChunk) { HttpPushTest::Run(url_ + "/push", url_ + "/push"); }

}  // namespace
}  // namespace imgfs

// RegistryClient's logic over a scripted HttpTransport: the bearer and basic flows, token
// refresh on a 401, retries, streamed blobs resumed with Range (also from a server that ignores
// it), verification of what manifests and blobs are served, chunked uploads. The real registry
// is in tests/integration/registry/.
#include "imgfs/registry/registry_client.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <deque>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/image_index.h"
#include "imgfs/registry/artifact.h"
#include "imgfs/registry/registry_pull.h"
#include "imgfs/registry/registry_remote.h"
#include "tests/unit/registry_test_util.h"

namespace imgfs::registry {
namespace {

class RegistryClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<RegistryClient> Open(ClientOptions options = {}) {
    options.initial_backoff = std::chrono::milliseconds(0);
    options.credential_files.paths.clear();
    auto t = std::make_unique<FakeTransport>();
    fake_ = t.get();
    auto c = RegistryClient::Open("reg.test:5000", "team/app", options, std::move(t));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c).value();
  }
  FakeTransport* fake_ = nullptr;
  FakeClock clock_;
};

const std::string kManifest = R"({"schemaVersion":2})";

TEST_F(RegistryClientTest, BearerTokenWithCredentialsThenRefetchedOnce) {
  ClientOptions options;
  options.credentials = Credentials{"alice", "pw"};
  auto client = Open(options);
  int tokens = 0;
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    if (req.url.rfind("https://auth.test/token", 0) == 0) {
      ++tokens;
      return {200, {}, R"({"token":"t)" + std::to_string(tokens) + R"("})"};
    }
    // The registry accepts only the second token.
    if (Header(req, "Authorization") != "Bearer t2")
      return {401,
              {{"www-authenticate", R"(Bearer realm="https://auth.test/token",service="reg svc")"}},
              R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})"};
    return {200, {{"content-type", "application/vnd.oci.image.manifest.v1+json"}}, kManifest};
  };
  auto m = client->GetManifest("v1", 1 << 20);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->bytes, kManifest);
  EXPECT_EQ(m->digest, Sha256(kManifest));
  EXPECT_EQ(tokens, 2);
  const HttpRequest& token_req = fake_->requests[1];
  EXPECT_EQ(token_req.url,
            "https://auth.test/token?service=reg%20svc&scope=repository%3Ateam%2Fapp%3Apull");
  EXPECT_EQ(Header(token_req, "Authorization"), "Basic " + Base64Encode("alice:pw"));
  EXPECT_EQ(fake_->requests[0].url, "https://reg.test:5000/v2/team/app/manifests/v1");
  // The next request reuses the token without asking again.
  ASSERT_TRUE(client->GetManifest("v1", 1 << 20).ok());
  EXPECT_EQ(tokens, 2);
}

TEST_F(RegistryClientTest, TokenFetchedAgainBeforeItsLifetimeEnds) {
  FakeClock clock;
  ClientOptions options;
  options.clock = &clock;
  auto client = Open(options);
  int tokens = 0;
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    if (req.url.rfind("https://auth.test/", 0) == 0) {
      ++tokens;
      return {200, {}, R"({"token":"t)" + std::to_string(tokens) + R"(","expires_in":300})"};
    }
    if (Header(req, "Authorization").empty())
      return {401, {{"www-authenticate", R"(Bearer realm="https://auth.test/t")"}}, ""};
    return {200, {}, kManifest};
  };
  ASSERT_TRUE(client->GetManifest("v1", 1 << 20).ok());
  EXPECT_EQ(tokens, 1);
  clock.Advance(std::chrono::seconds(200));  // within 90% of 300 s: kept
  ASSERT_TRUE(client->GetManifest("v1", 1 << 20).ok());
  EXPECT_EQ(tokens, 1);
  clock.Advance(std::chrono::seconds(80));  // 280 s: fetched again before the next request
  ASSERT_TRUE(client->GetManifest("v1", 1 << 20).ok());
  EXPECT_EQ(tokens, 2);
  EXPECT_EQ(Header(fake_->requests.back(), "Authorization"), "Bearer t2");
}

TEST_F(RegistryClientTest, NoCredentialsToAPlainHttpRealmOfAnHttpsRegistry) {
  ClientOptions options;
  options.credentials = Credentials{"alice", "pw"};
  auto client = Open(options);
  fake_->handler = [&](const HttpRequest&) -> Reply {
    return {401, {{"www-authenticate", R"(Bearer realm="http://auth.test/token")"}}, ""};
  };
  auto m = client->GetManifest("v1", 1 << 20);
  EXPECT_EQ(m.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(fake_->requests.size(), 1u);  // the realm was not asked
}

TEST_F(RegistryClientTest, NoCredentialsForAChallengeFromWhereARedirectLed) {
  ClientOptions options;
  options.credentials = Credentials{"alice", "pw"};
  auto client = Open(options);
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    if (req.url.find("/blobs/") == std::string::npos) return {200, {}, R"({"token":"t"})"};
    // The registry redirected the GET to storage, which asks for a token from its own realm.
    return {401,
            {{"www-authenticate", R"(Bearer realm="https://evil.test/token")"}},
            "",
            std::string::npos,
            "https://storage.test/blob?X-Amz-Signature=s3cret"};
  };
  auto b = client->GetBlob(Sha256("x"), 1 << 20);
  EXPECT_EQ(b.status().code(), Code::kPermissionDenied);
  EXPECT_NE(b.status().message().find("https://storage.test:443"), std::string::npos)
      << b.status().ToString();
  EXPECT_EQ(b.status().message().find("s3cret"), std::string::npos) << b.status().ToString();
  ASSERT_EQ(fake_->requests.size(), 1u) << "the realm was asked: " << fake_->requests[1].url;
}

TEST_F(RegistryClientTest, ThirdUnauthorizedIsFinal) {
  auto client = Open();
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    if (req.url.rfind("https://auth.test/", 0) == 0) return {200, {}, R"({"token":"t"})"};
    return {401, {{"www-authenticate", R"(Bearer realm="https://auth.test/t")"}}, ""};
  };
  auto m = client->GetManifest("v1", 1 << 20);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), Code::kPermissionDenied);
  EXPECT_LE(fake_->requests.size(), 5u);
}

TEST_F(RegistryClientTest, BasicChallengeNeedsCredentials) {
  auto client = Open();
  fake_->handler = [&](const HttpRequest&) -> Reply {
    return {401, {{"www-authenticate", R"(Basic realm="r")"}}, ""};
  };
  auto m = client->GetManifest("v1", 1 << 20);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("user name and password"), std::string::npos);
}

TEST_F(RegistryClientTest, RetriesServerErrorsNotMissingManifests) {
  auto client = Open();
  int calls = 0;
  fake_->handler = [&](const HttpRequest&) -> Reply {
    return ++calls < 3 ? Reply{503, {}, ""} : Reply{200, {}, kManifest};
  };
  ASSERT_TRUE(client->GetManifest("v1", 1 << 20).ok());
  EXPECT_EQ(calls, 3);
  calls = 0;
  fake_->handler = [&](const HttpRequest&) -> Reply {
    ++calls;
    return {404, {}, R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})"};
  };
  auto m = client->GetManifest("v2", 1 << 20);
  EXPECT_EQ(m.status().code(), Code::kNotFound);
  EXPECT_NE(m.status().message().find("MANIFEST_UNKNOWN"), std::string::npos);
  EXPECT_EQ(calls, 1);
}

TEST_F(RegistryClientTest, ManifestsAreVerified) {
  auto client = Open();
  fake_->handler = [&](const HttpRequest&) -> Reply { return {200, {}, kManifest + " "}; };
  EXPECT_EQ(client->GetManifest(Sha256(kManifest).ToString(), 1 << 20).status().code(),
            Code::kCorruption);
  fake_->handler = [&](const HttpRequest&) -> Reply {
    return {200, {{"docker-content-digest", Sha256("other").ToString()}}, kManifest};
  };
  EXPECT_EQ(client->GetManifest("v1", 1 << 20).status().code(), Code::kCorruption);
}

std::string Blob() {
  std::string b;
  for (int i = 0; i < 300; ++i) b.push_back(static_cast<char>('a' + i % 26));
  return b;
}

TEST_F(RegistryClientTest, StreamResumesWithRange) {
  auto client = Open();
  const std::string blob = Blob();
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    std::string range = Header(req, "Range");
    if (range.empty()) return {200, {}, blob, 100};  // broken after 100 bytes
    EXPECT_EQ(range, "bytes=100-");
    return {206, {{"content-range", "bytes 100-299/300"}}, blob.substr(100)};
  };
  std::string got;
  Status s = client->StreamBlob(Sha256(blob), 0, 1000, [&](std::string_view p) {
    got.append(p);
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, blob);
}

TEST_F(RegistryClientTest, StreamResumesFromAServerThatIgnoresRange) {
  auto client = Open();
  const std::string blob = Blob();
  int calls = 0;
  fake_->handler = [&](const HttpRequest&) -> Reply {
    return ++calls == 1 ? Reply{200, {}, blob, 123} : Reply{200, {}, blob};
  };
  std::string got;
  ASSERT_TRUE(client
                  ->StreamBlob(Sha256(blob), 0, 1000,
                               [&](std::string_view p) {
                                 got.append(p);
                                 return Status::Ok();
                               })
                  .ok());
  EXPECT_EQ(got, blob);
}

TEST_F(RegistryClientTest, StreamRefusesAMisplacedResumeAndTooMuch) {
  auto client = Open();
  const std::string blob = Blob();
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    if (Header(req, "Range").empty()) return {200, {}, blob, 100};
    return {206, {{"content-range", "bytes 0-299/300"}}, blob};
  };
  auto sink = [](std::string_view) { return Status::Ok(); };
  EXPECT_EQ(client->StreamBlob(Sha256(blob), 0, 1000, sink).code(), Code::kCorruption);
  fake_->handler = [&](const HttpRequest&) -> Reply { return {200, {}, blob}; };
  EXPECT_EQ(client->StreamBlob(Sha256(blob), 0, 299, sink).code(), Code::kCorruption);
}

TEST_F(RegistryClientTest, RangeFollowsAndReusesRedirects) {
  ClientOptions options;
  options.clock = &clock_;
  auto client = Open(options);
  const std::string blob = Blob();
  int registry = 0, storage = 0;
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    if (req.url.rfind("https://storage.test/", 0) == 0) {
      ++storage;
      EXPECT_EQ(Header(req, "Authorization"), "");
      return {206, {}, blob.substr(10, 20)};
    }
    ++registry;
    EXPECT_FALSE(req.follow_redirects);
    return {307, {{"location", "https://storage.test/b?sig=x"}}, ""};
  };
  for (int i = 0; i < 3; ++i) {
    auto r = client->GetBlobRange(Sha256(blob), 10, 20);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, blob.substr(10, 20));
  }
  EXPECT_EQ(registry, 1);
  EXPECT_EQ(storage, 3);
  clock_.Advance(kRedirectReuse);  // expired: the registry is asked again
  ASSERT_TRUE(client->GetBlobRange(Sha256(blob), 10, 20).ok());
  EXPECT_EQ(registry, 2);
}

TEST_F(RegistryClientTest, AStreamedRangeResumesWhereABrokenTransferStopped) {
  auto client = Open();
  const std::string blob = Blob();
  int calls = 0;
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    // The first answer breaks after 8 bytes; the retry must ask for the rest only.
    if (++calls == 1) {
      EXPECT_EQ(Header(req, "Range"), "bytes=10-29");
      return {206, {{"content-range", "bytes 10-29/300"}}, blob.substr(10, 20), 8};
    }
    EXPECT_EQ(Header(req, "Range"), "bytes=18-29");
    return {206, {{"content-range", "bytes 18-29/300"}}, blob.substr(18, 12)};
  };
  std::string got;
  Status s = client->StreamBlobRange(Sha256(blob), 10, 20, [&](std::string_view piece) {
    got.append(piece);
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(got, blob.substr(10, 20)) << "each byte handed over once";
}

TEST_F(RegistryClientTest, TheSinksErrorEndsAStreamedRangeWithoutARetry) {
  auto client = Open();
  const std::string blob = Blob();
  int calls = 0;
  fake_->handler = [&](const HttpRequest&) -> Reply {
    ++calls;
    return {206, {}, blob.substr(10, 20)};
  };
  Status s = client->StreamBlobRange(Sha256(blob), 10, 20, [](std::string_view) {
    return Status::Unavailable("the consumer gave up");
  });
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("the consumer gave up"), std::string::npos) << s.ToString();
  EXPECT_EQ(calls, 1);
}

TEST_F(RegistryClientTest, CrossRepositoryMount) {
  auto client = Open();
  long answer = 201;
  fake_->handler = [&](const HttpRequest&) -> Reply { return {answer, {}, ""}; };
  auto mounted = client->MountBlob(Sha256("x"), "other/repo");
  ASSERT_TRUE(mounted.ok());
  EXPECT_TRUE(*mounted);
  EXPECT_EQ(fake_->requests[0].method, "POST");
  EXPECT_EQ(fake_->requests[0].url,
            "https://reg.test:5000/v2/team/app/blobs/uploads/?mount=" + std::string("sha256%3A") +
                Sha256("x").Hex() + "&from=other%2Frepo");
  answer = 202;  // the registry opened an upload session instead
  mounted = client->MountBlob(Sha256("x"), "other/repo");
  ASSERT_TRUE(mounted.ok());
  EXPECT_FALSE(*mounted);
  answer = 403;
  EXPECT_EQ(client->MountBlob(Sha256("x"), "other/repo").status().code(), Code::kPermissionDenied);
}

TEST_F(RegistryClientTest, ChunkedUpload) {
  ClientOptions options;
  options.upload_chunk_size = 128;
  auto client = Open(options);
  const std::string blob = Blob();
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    if (req.method == "HEAD") return {404, {}, ""};
    if (req.method == "POST") return {202, {{"location", "/v2/team/app/blobs/uploads/u1?s=1"}}, ""};
    if (req.method == "PATCH")
      return {202, {{"location", "/v2/team/app/blobs/uploads/u1?s=2"}}, ""};
    return {201, {}, ""};
  };
  auto r = client->PutBlob(Sha256(blob), blob);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(*r);
  ASSERT_EQ(fake_->requests.size(), 5u);  // HEAD, POST, PATCH 0-127, PATCH 128-255, PUT rest
  EXPECT_EQ(Header(fake_->requests[2], "Content-Range"), "0-127");
  EXPECT_EQ(Header(fake_->requests[3], "Content-Range"), "128-255");
  EXPECT_EQ(fake_->requests[4].method, "PUT");
  EXPECT_EQ(fake_->requests[4].url,
            "https://reg.test:5000/v2/team/app/blobs/uploads/u1?s=2&digest=" +
                std::string("sha256%3A") + Sha256(blob).Hex());
  EXPECT_EQ(fake_->bodies[2] + fake_->bodies[3] + fake_->bodies[4], blob);
}

// A registry that wants Basic credentials and hands uploads to `upload_origin`.
Reply BasicRegistryWithUploadsAt(const HttpRequest& req, const std::string& upload_origin) {
  const bool registry = req.url.starts_with("https://reg.test:5000/");
  if (registry && Header(req, "Authorization").empty())
    return {401, {{"www-authenticate", R"(Basic realm="reg")"}}, ""};
  if (req.method == "HEAD") return {404, {}, ""};
  if (req.method == "POST") return {202, {{"location", upload_origin + "/up/u1?s=1"}}, ""};
  if (req.method == "PATCH") return {202, {{"location", upload_origin + "/up/u1?s=2"}}, ""};
  return {201, {}, ""};
}

TEST_F(RegistryClientTest, AnUploadElsewhereGoesWithoutOurAuthorization) {
  ClientOptions options;
  options.credentials = Credentials{"alice", "pw"};
  options.upload_chunk_size = 128;
  auto client = Open(options);
  fake_->handler = [&](const HttpRequest& req) {
    return BasicRegistryWithUploadsAt(req, "https://uploads.test");
  };
  const std::string blob = Blob();
  auto r = client->PutBlob(Sha256(blob), blob);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  int elsewhere = 0;
  for (const HttpRequest& req : fake_->requests) {
    if (!req.url.starts_with("https://uploads.test/")) continue;
    ++elsewhere;
    EXPECT_EQ(Header(req, "Authorization"), "") << req.method << " " << req.url;
  }
  EXPECT_EQ(elsewhere, 3);  // PATCH 0-127, PATCH 128-255, PUT
  EXPECT_EQ(Header(fake_->requests.back(), "Content-Type"), "application/octet-stream");
}

TEST_F(RegistryClientTest, AnUploadToTheRegistrysOwnOriginKeepsOurAuthorization) {
  ClientOptions options;
  options.credentials = Credentials{"alice", "pw"};
  auto client = Open(options);
  fake_->handler = [&](const HttpRequest& req) {
    return BasicRegistryWithUploadsAt(req, "https://REG.test:5000");
  };
  ASSERT_TRUE(client->PutBlob(Sha256("x"), "x").ok());
  EXPECT_EQ(fake_->requests.back().method, "PUT");
  EXPECT_EQ(Header(fake_->requests.back(), "Authorization"), "Basic " + Base64Encode("alice:pw"));
}

TEST_F(RegistryClientTest, APlainHttpUploadLocationOfAnHttpsRegistryIsRefused) {
  ClientOptions options;
  options.credentials = Credentials{"alice", "pw"};
  auto client = Open(options);
  fake_->handler = [&](const HttpRequest& req) {
    return BasicRegistryWithUploadsAt(req, "http://reg.test:5000");
  };
  auto r = client->PutBlob(Sha256("x"), "x");
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << r.status().ToString();
  EXPECT_NE(r.status().message().find("plain-http"), std::string::npos) << r.status().ToString();
  for (const HttpRequest& req : fake_->requests)
    EXPECT_FALSE(req.url.starts_with("http://")) << req.method << " " << req.url;
}

TEST_F(RegistryClientTest, AStreamCreepingForwardRunsOutOfAttempts) {
  auto client = Open();
  const std::string blob = Blob();
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    // One byte per connection, then a reset.
    std::string range = Header(req, "Range");
    size_t from = range.empty() ? 0 : std::stoul(range.substr(6));
    return {206,
            {{"content-range", "bytes " + std::to_string(from) + "-299/300"}},
            blob.substr(from),
            1};
  };
  Status s =
      client->StreamBlob(Sha256(blob), 0, 1000, [](std::string_view) { return Status::Ok(); });
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_EQ(fake_->requests.size(), 4u);  // max_attempts
}

TEST_F(RegistryClientTest, SkippingWhatAStreamHasIsBounded) {
  ClientOptions options;
  options.clock = &clock_;
  auto client = Open(options);
  const std::string blob = Blob();
  int calls = 0;
  fake_->handler = [&](const HttpRequest&) -> Reply {
    if (++calls == 1) return {200, {}, blob, 100};
    clock_.Advance(std::chrono::hours(1));  // the resent prefix trickles in
    return {200, {}, blob};                 // Range ignored
  };
  std::string got;
  Status s = client->StreamBlob(Sha256(blob), 0, 1000, [&](std::string_view p) {
    got.append(p);
    return Status::Ok();
  });
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("skipping the 100 bytes"), std::string::npos) << s.ToString();
  EXPECT_EQ(got, blob.substr(0, 100));
}

TEST_F(RegistryClientTest, ARangeReadsDeadlineAllowsForTheBytesBeforeIt) {
  auto client = Open();
  const std::string blob = Blob();
  fake_->handler = [&](const HttpRequest&) -> Reply { return {206, {}, blob.substr(250, 20)}; };
  ASSERT_TRUE(client->GetBlobRange(Sha256(blob), 250, 20).ok());
  ASSERT_EQ(fake_->requests.size(), 1u);
  EXPECT_TRUE(fake_->requests[0].on_body);
  // A server that ignores Range sends [0, 270): the transport's deadline covers that much.
  EXPECT_EQ(fake_->requests[0].expected_bytes, 270u);
}

TEST_F(RegistryClientTest, CallTimeoutBoundsRetriesOfRangesAndBlobs) {
  ClientOptions options;
  options.clock = &clock_;
  options.max_attempts = 10;
  options.call_timeout = std::chrono::seconds(10);
  auto client = Open(options);
  fake_->handler = [&](const HttpRequest&) -> Reply {
    clock_.Advance(std::chrono::seconds(4));
    return {503, {}, ""};
  };
  Status s = client->GetBlobRange(Sha256("x"), 0, 10).status();
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("out of time"), std::string::npos) << s.ToString();
  ASSERT_EQ(fake_->requests.size(), 3u);  // at 0, 4 and 8 s; none starts at 12
  EXPECT_EQ(fake_->requests[0].time_limit, std::chrono::seconds(10));
  EXPECT_EQ(fake_->requests[2].time_limit, std::chrono::seconds(2));

  s = client->GetBlob(Sha256("x"), 100).status();
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(fake_->requests.size(), 6u);
  EXPECT_EQ(fake_->requests[4].time_limit, std::chrono::seconds(6));
}

// A token server that fails slowly: the token fetch a 401 starts is part of the call and ends
// with it (it holds the client's lock, so every other request would wait too).
TEST_F(RegistryClientTest, CallTimeoutBoundsTheTokenFetchToo) {
  ClientOptions options;
  options.clock = &clock_;
  options.max_attempts = 10;
  options.call_timeout = std::chrono::seconds(10);
  auto client = Open(options);
  fake_->handler = [&](const HttpRequest& req) -> Reply {
    clock_.Advance(std::chrono::seconds(4));
    if (req.url.starts_with("https://auth.test/")) return {503, {}, ""};
    return {401, {{"www-authenticate", R"(Bearer realm="https://auth.test/t")"}}, ""};
  };
  Status s = client->GetBlob(Sha256("x"), 100).status();
  EXPECT_EQ(s.code(), Code::kUnavailable) << s.ToString();
  EXPECT_NE(s.message().find("out of time"), std::string::npos) << s.ToString();
  // The blob at 0 s, tokens at 4 and 8 s; none after 10 s.
  ASSERT_EQ(fake_->requests.size(), 3u);
  EXPECT_EQ(fake_->requests[2].time_limit, std::chrono::seconds(2));
}

TEST(RegistryRemoteStore, TheDaemonsCallTimeoutReachesTheClient) {
  remote::RemoteOptions remote_options;
  remote_options.call_timeout = std::chrono::seconds(30);
  EXPECT_EQ(RegistryClientOptions(remote_options).call_timeout, std::chrono::seconds(30));
}

// The image manifest tagged v1 in FindArtifactTest.
std::string ImageManifest() {
  return nlohmann::json{{"schemaVersion", 2},
                        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                        {"config",
                         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                          {"digest", Sha256("{}").ToString()},
                          {"size", 2}}},
                        {"layers", nlohmann::json::array()}}
      .dump();
}

// FindArtifact over a registry with image manifest "v1" and one imgfs artifact listed in its
// referrers tag fallback, whose subject is `subject`.
class FindArtifactTest : public RegistryClientTest {
 protected:
  Result<FoundArtifact> Find(const std::optional<Digest>& subject) {
    auto client = Serve(subject, "index");
    return FindArtifact(*client, Ref(), "linux/amd64");
  }
  // A registry with image manifest "v1" and, in its referrers tag fallback, an imgfs artifact
  // whose subject is `subject` and whose index blob is `index`.
  std::unique_ptr<RegistryClient> Serve(const std::optional<Digest>& subject,
                                        const std::string& index) {
    image = ImageManifest();
    index_ = index;
    Artifact a;
    a.index = BlobRef{std::string(kIndexLayerType), Sha256(index), uint64_t{index.size()}};
    if (subject) a.subject = BlobRef{"application/vnd.oci.image.manifest.v1+json", *subject, 1};
    artifact = BuildArtifactManifest(a);
    Result<std::string> listed =
        AddReferrer(std::nullopt, Sha256(artifact), artifact.size(), Sha256(index));
    EXPECT_TRUE(listed.ok());
    referrers = *listed;
    auto client = Open();
    fake_->handler = [this](const HttpRequest& req) -> Reply {
      const std::string type = "application/vnd.oci.image.manifest.v1+json";
      if (req.url.ends_with("/manifests/v1")) return {200, {{"content-type", type}}, image};
      if (req.url.ends_with("/manifests/" + ReferrersTag(Sha256(image))))
        return {200, {{"content-type", "application/vnd.oci.image.index.v1+json"}}, referrers};
      if (req.url.ends_with("/manifests/" + Sha256(artifact).ToString()))
        return {200, {{"content-type", type}}, artifact};
      if (req.url.ends_with("/blobs/" + Sha256(index_).ToString())) return {200, {}, index_};
      return {404, {}, ""};
    };
    return client;
  }
  static Reference Ref() {
    Reference ref;
    ref.host = "reg.test:5000";
    ref.repository = "team/app";
    ref.tag = "v1";
    return ref;
  }
  std::string image, artifact, referrers, index_;
  const Digest image_ = Sha256(ImageManifest());
};

TEST_F(FindArtifactTest, TheArtifactMustNameTheManifestAsItsSubject) {
  Result<FoundArtifact> found = Find(Sha256("another image"));
  EXPECT_EQ(found.status().code(), Code::kCorruption);
  EXPECT_NE(found.status().message().find(Sha256("another image").ToString()), std::string::npos)
      << found.status().ToString();
  EXPECT_NE(found.status().message().find(image_.ToString()), std::string::npos)
      << found.status().ToString();
  EXPECT_EQ(Find(std::nullopt).status().code(), Code::kCorruption);
}

TEST_F(FindArtifactTest, AnArtifactOfTheManifestIsFound) {
  Result<FoundArtifact> found = Find(image_);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ(found->artifact.index.digest, Sha256("index"));
}

// An empty image index whose metadata names MANIFEST as its source.
std::string IndexFrom(const std::string& manifest) {
  ImageIndexWriter w;
  w.AddInode({S_IFDIR | 0755});
  w.SetDirEntries(0, {});
  w.SetMetadata(nlohmann::json{{"manifest_digest", manifest}}.dump());
  return *w.Finish();
}

TEST_F(FindArtifactTest, APulledIndexMustSayItIsOfTheImageItsArtifactIsAttachedTo) {
  auto client = Serve(image_, IndexFrom(image_.ToString()));
  Result<PulledImage> pulled = PullFromRegistry(*client, Ref(), "linux/amd64");
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  EXPECT_EQ(pulled->index_digest, Sha256(IndexFrom(image_.ToString())));

  const std::string other = Sha256("another image").ToString();
  client = Serve(image_, IndexFrom(other));
  pulled = PullFromRegistry(*client, Ref(), "linux/amd64");
  EXPECT_EQ(pulled.status().code(), Code::kCorruption) << pulled.status().ToString();
  EXPECT_NE(pulled.status().message().find(other), std::string::npos) << pulled.status().ToString();
}

}  // namespace
}  // namespace imgfs::registry

// Registry logic without a network: image references, WWW-Authenticate challenges, token
// answers, credential files, base64 and the imgfs artifact's manifest and referrers index.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <vector>

#include "imgfs/registry/artifact.h"
#include "imgfs/registry/auth.h"
#include "imgfs/registry/reference.h"

namespace imgfs::registry {
namespace {

TEST(Reference, HostRepoTag) {
  auto r = ParseReference("docker://127.0.0.1:5000/team/app:v1.2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->host, "127.0.0.1:5000");
  EXPECT_EQ(r->repository, "team/app");
  EXPECT_EQ(r->tag, "v1.2");
  EXPECT_FALSE(r->digest);
  EXPECT_EQ(r->ManifestReference(), "v1.2");
  EXPECT_EQ(r->ToString(), "docker://127.0.0.1:5000/team/app:v1.2");
}

TEST(Reference, DefaultTagDigestAndIpv6) {
  auto r = ParseReference("docker://registry.example/app");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->tag, "latest");
  const std::string d = "sha256:" + std::string(64, 'a');
  r = ParseReference("docker://[::1]:5000/a/b:t@" + d);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->host, "[::1]:5000");
  EXPECT_EQ(r->ManifestReference(), d);
  EXPECT_EQ(r->ToString(), "docker://[::1]:5000/a/b@" + d);
  EXPECT_TRUE(ParseReference("docker://h:5000/repo", /*repository_only=*/true).ok());
  EXPECT_FALSE(ParseReference("docker://h:5000/repo:t", /*repository_only=*/true).ok());
}

TEST(Reference, RefusesMalformed) {
  for (const char* bad :
       {"oci:/x", "docker://", "docker://host", "docker://host/", "docker://host/UPPER",
        "docker://host/a//b", "docker://host/a:", "docker://host/a:-t", "docker://host/a@sha256:12",
        "docker://host:99999/a", "docker://ho st/a", "docker://host/a_/b", "docker://[::1/a",
        "docker://host/a:"
        "ttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"
        "tttttttttttttttttttttttttttttttttttttttttttttttttttttttttttt"})
    EXPECT_FALSE(ParseReference(bad).ok()) << bad;
}

TEST(Challenge, BearerAndBasic) {
  auto c = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.example/token",service="registry.example",)"
      R"(scope="repository:a/b:pull,push", Basic realm="x\"y")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].params["realm"], "https://auth.example/token");
  EXPECT_EQ(c[0].params["service"], "registry.example");
  EXPECT_EQ(c[0].params["scope"], "repository:a/b:pull,push");
  EXPECT_EQ(c[1].scheme, "basic");
  EXPECT_EQ(c[1].params["realm"], "x\"y");
}

TEST(Challenge, GarbageNeverCrashes) {
  for (const char* s : {"", "=", "Bearer realm=\"unterminated", ",,,", "Bearer ,realm", "\"\"\""})
    (void)ParseWwwAuthenticate(s);
  EXPECT_TRUE(ParseWwwAuthenticate("").empty());
}

TEST(Token, Answers) {
  auto t = ParseTokenResponse(R"({"token":"abc","expires_in":300})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->value, "abc");
  EXPECT_EQ(t->lifetime.count(), 300);
  t = ParseTokenResponse(R"({"access_token":"xyz","expires_in":5})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->value, "xyz");
  EXPECT_EQ(t->lifetime.count(), 60);  // the spec's minimum
  EXPECT_FALSE(ParseTokenResponse(R"({"token":""})").ok());
  EXPECT_FALSE(ParseTokenResponse(R"({"token":"a\r\nX-Evil: 1"})").ok());
  EXPECT_FALSE(ParseTokenResponse("[]").ok());
}

TEST(Base64, RoundTripAndRejects) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "user:pa:ss", std::string("\0\xff\x10", 3)}) {
    auto d = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(Base64Encode("user:pass"), "dXNlcjpwYXNz");
  for (const char* bad : {"abc", "ab=c", "a===", "ab$d", "=abc", "sbe=", "sb=="})  // fuzzer
    EXPECT_FALSE(Base64Decode(bad).ok()) << bad;
}

class CredentialFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/imgfs-creds-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(CredentialFilesTest, OrderAndForms) {
  CredentialFiles files;
  files.paths = {dir_ + "/missing.json",
                 Write("a.json", R"({"auths":{"other:5000":{"auth":"eDp5"}}})"),
                 Write("b.json", R"({"auths":{"https://reg:5000/v1/":{"auth":")" +
                                     Base64Encode("alice:s3:cret") + R"("}}})"),
                 Write("c.json", R"({"auths":{"reg:5000":{"username":"bob","password":"pw"}}})")};
  auto c = FindCredentials(files, "reg:5000");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->username, "alice");
  EXPECT_EQ((*c)->password, "s3:cret");
  files.paths.erase(files.paths.begin() + 2);
  c = FindCredentials(files, "reg:5000");
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->username, "bob");
  c = FindCredentials(files, "nowhere");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_value());
}

TEST_F(CredentialFilesTest, MalformedFileIsAnError) {
  CredentialFiles files;
  files.paths = {Write("bad.json", "{not json")};
  EXPECT_FALSE(FindCredentials(files, "reg").ok());
  files.paths = {Write("bad2.json", R"({"auths":{"reg":{"auth":"!!!!"}}})")};
  auto c = FindCredentials(files, "reg");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("bad2.json"), std::string::npos);
}

TEST(Creds, Flag) {
  auto c = ParseCredsFlag("u:p:q");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->username, "u");
  EXPECT_EQ(c->password, "p:q");
  EXPECT_FALSE(ParseCredsFlag(":p").ok());
  EXPECT_FALSE(ParseCredsFlag("nopass").ok());
}

TEST(Artifact, RoundTripAndReferrers) {
  Artifact a;
  a.index = {std::string(kIndexLayerType), Sha256("index"), 5};
  a.compressed_index = BlobRef{std::string(kCompressedIndexLayerType), Sha256("frame"), 3};
  a.trace = BlobRef{std::string(kTraceLayerType), Sha256("trace"), 5};
  a.packs = {{std::string(kPackLayerType), Sha256("p1"), 2},
             {std::string(kPackLayerType), Sha256("p2"), 2}};
  a.subject = BlobRef{"application/vnd.oci.image.manifest.v1+json", Sha256("m"), 1};
  const std::string json = BuildArtifactManifest(a);
  EXPECT_EQ(json, BuildArtifactManifest(a));  // deterministic
  auto parsed = ParseArtifactManifest(json, 1 << 20);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->index.digest, a.index.digest);
  ASSERT_TRUE(parsed->compressed_index);
  EXPECT_EQ(parsed->compressed_index->digest, Sha256("frame"));
  EXPECT_EQ(parsed->compressed_index->size, 3u);
  ASSERT_TRUE(parsed->trace);
  EXPECT_EQ(parsed->trace->digest, a.trace->digest);
  ASSERT_EQ(parsed->packs.size(), 2u);
  EXPECT_EQ(parsed->packs[1].digest, Sha256("p2"));
  ASSERT_TRUE(parsed->subject);
  EXPECT_EQ(parsed->subject->digest, Sha256("m"));

  const Digest m1 = Sha256("artifact1"), m2 = Sha256("artifact2");
  auto r1 = AddReferrer(std::nullopt, m1, 10, a.index.digest);
  ASSERT_TRUE(r1.ok());
  auto r2 = AddReferrer(*r1, m2, 10, a.index.digest);
  ASSERT_TRUE(r2.ok());
  auto r3 = AddReferrer(*r2, m1, 10, a.index.digest);  // m1 again: moved to the end, once
  ASSERT_TRUE(r3.ok());
  auto latest = LatestImgfsReferrer(*r3, 1 << 20);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->digest, m1);
  EXPECT_EQ(r3->find(m1.ToString()), r3->rfind(m1.ToString()));
  EXPECT_EQ(ReferrersTag(m1), "sha256-" + m1.Hex());

  // An older push's artifact has no compressed index.
  a.compressed_index.reset();
  parsed = ParseArtifactManifest(BuildArtifactManifest(a), 1 << 20);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_FALSE(parsed->compressed_index);
}

TEST(Artifact, RefusesOthersAndGarbage) {
  EXPECT_EQ(ParseArtifactManifest(R"({"schemaVersion":2,"layers":[]})", 1 << 20).status().code(),
            Code::kNotFound);
  for (const char* bad :
       {"[]", "{", R"({"artifactType":5})",
        R"({"artifactType":"application/vnd.imgfs.image.v1","layers":[]})",
        R"({"artifactType":"application/vnd.imgfs.image.v1","layers":[{"mediaType":"x"}]})",
        R"({"artifactType":"application/vnd.imgfs.image.v1","layers":[{"mediaType":)"
        R"("application/vnd.imgfs.pack.v1","digest":"sha256:00","size":1}]})"})
    EXPECT_FALSE(ParseArtifactManifest(bad, 1 << 20).ok()) << bad;
  Artifact two;
  two.index = {std::string(kIndexLayerType), Sha256("index"), 5};
  two.compressed_index = BlobRef{std::string(kCompressedIndexLayerType), Sha256("f"), 1};
  two.packs = {*two.compressed_index};  // a second layer of that type
  EXPECT_EQ(ParseArtifactManifest(BuildArtifactManifest(two), 1 << 20).status().code(),
            Code::kInvalidArgument);
  for (const char* bad : {"[]"}) EXPECT_FALSE(ParseArtifactManifest(bad, 1 << 20).ok()) << bad;
  EXPECT_FALSE(
      AddReferrer(std::string_view("{\"manifests\":5}"), Sha256("a"), 1, Sha256("b")).ok());
  EXPECT_FALSE(LatestImgfsReferrer(R"({"manifests":[{"artifactType":"other"}]})", 1 << 20).ok());
}

}  // namespace
}  // namespace imgfs::registry

#include "imgfs/registry/registry_push.h"

#include "core/oci_image.h"
#include "imgfs/registry/artifact.h"
#include "imgfs/registry/registry_remote.h"

namespace imgfs::registry {
namespace {

constexpr uint64_t kMaxManifest = 8u << 20;

// The manifest the index was converted from, as the registry holds it; nullopt when the index
// names none or the repository lacks it.
Result<std::optional<BlobRef>> FindSubject(RegistryClient& client, const ImageIndex& index) {
  Result<Digest> digest = Digest::Parse(SourceManifest(index.metadata()));
  if (!digest.ok()) return std::optional<BlobRef>();
  Result<FetchedManifest> m = client.GetManifest(digest->ToString(), kMaxManifest);
  if (!m.ok()) {
    if (m.status().code() == Code::kNotFound) return std::optional<BlobRef>();
    return m.status();
  }
  std::string media_type = m->media_type;
  if (!oci::IsManifestMediaType(media_type)) media_type = oci::media_type::kOciManifest;
  return std::optional<BlobRef>(BlobRef{media_type, m->digest, m->bytes.size()});
}

// True when `m` is the subject or an image index listing it.
bool NamesSubject(const FetchedManifest& m, const Digest& subject) {
  if (m.digest == subject) return true;
  Result<oci::Index> index = oci::ParseIndex(m.bytes, kMaxManifest);
  if (!index.ok()) return false;
  for (const oci::Descriptor& d : index->manifests)
    if (d.digest == subject) return true;
  return false;
}

}  // namespace

Result<RegistryPushResult> PushToRegistry(const ImageIndex& index, ChunkSource& local,
                                          const Reference& dest, ClientOptions options,
                                          const std::string* trace_or_null,
                                          const std::string& mount_from) {
  options.push = true;
  ASSIGN_OR_RETURN(std::unique_ptr<RegistryClient> opened,
                   RegistryClient::Open(dest.host, dest.repository, std::move(options)));
  auto client = std::shared_ptr<RegistryClient>(std::move(opened));
  RegistryRemoteStore store(client);
  if (!mount_from.empty()) {
    if (mount_from == dest.repository)
      return Status::InvalidArgument("--mount-from names the destination repository itself");
    store.set_mount_from(mount_from);
  }
  RegistryPushResult out;
  const std::string mt(oci::media_type::kOciManifest);
  Artifact a;
  ASSIGN_OR_RETURN(a.subject, FindSubject(*client, index));

  // What TAG holds decides, before anything is uploaded, whether the push may set it.
  bool set_tag = false;
  std::optional<Digest> tag_holds;
  if (!dest.digest) {
    Result<FetchedManifest> current = client->GetManifest(dest.tag, kMaxManifest);
    if (!current.ok()) {
      if (current.status().code() != Code::kNotFound) return current.status();
      set_tag = true;
    } else if (ParseArtifactManifest(current->bytes, kMaxManifest).ok()) {
      set_tag = true;  // an imgfs artifact (an older push): replaced
      tag_holds = current->digest;
    } else if (!(a.subject && NamesSubject(*current, a.subject->digest))) {
      return Status::AlreadyExists(
          dest.ToString() + " is an image other than the one " + index.digest().ToString() +
          " was converted from; push to a free tag or to the image's own tag");
    }
  }

  remote::PushOptions push_options;
  push_options.parallel_packs = 4;
  RETURN_IF_ERROR(remote::PushImage(index, local, store, trace_or_null, &out.stats, push_options));
  out.blobs_mounted = store.mounted_blobs();
  RETURN_IF_ERROR(client->PutBlob(Sha256(kEmptyConfig), kEmptyConfig)
                      .status()
                      .WithContext("push to " + client->Describe() + ": empty config"));

  a.index = {std::string(kIndexLayerType), index.digest(), index.bytes().size()};
  a.compressed_index = store.written_compressed_index();
  if (trace_or_null) {
    a.trace = store.written_trace();
  } else if (Result<FetchedManifest> previous =
                 client->GetManifest(IndexTag(index.digest()), kMaxManifest);
             previous.ok()) {
    // No trace given: the one an earlier push left stays (as with the other remote stores).
    if (Result<Artifact> old = ParseArtifactManifest(previous->bytes, kMaxManifest);
        old.ok() && old->index.digest == index.digest())
      a.trace = old->trace;
  }
  for (uint32_t p = 0; p < index.pack_count(); ++p) {
    const PackRecord pack = index.Pack(p);
    a.packs.push_back({std::string(kPackLayerType), pack.digest, pack.size});
  }
  const std::string manifest = BuildArtifactManifest(a);
  out.artifact = Sha256(manifest);
  RETURN_IF_ERROR(client->PutManifest(IndexTag(index.digest()), mt, manifest));
  if (set_tag && tag_holds != out.artifact)
    RETURN_IF_ERROR(client->PutManifest(dest.tag, mt, manifest));
  out.tagged = set_tag;

  if (a.subject) {
    out.subject = a.subject->digest;
    const std::string tag = ReferrersTag(a.subject->digest);
    Result<FetchedManifest> existing = client->GetManifest(tag, kMaxManifest);
    std::optional<std::string_view> old;
    if (existing.ok()) {
      old = existing->bytes;
    } else if (existing.status().code() != Code::kNotFound) {
      return existing.status();
    }
    Result<std::string> referrers = AddReferrer(old, out.artifact, manifest.size(), index.digest());
    if (!referrers.ok()) return referrers.status().WithContext(client->Describe() + ":" + tag);
    RETURN_IF_ERROR(client->PutManifest(tag, oci::media_type::kOciIndex, *referrers));
  }
  return out;
}

}  // namespace imgfs::registry

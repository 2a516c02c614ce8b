#include "imgfs/remote_store.h"

namespace imgfs {

Result<std::unique_ptr<RemoteStore>> OpenRemoteStore(const std::string& url,
                                                     const RemoteOptions& options) {
  return Status::Unimplemented("remote stores are not implemented yet: " + url);
}

}  // namespace imgfs

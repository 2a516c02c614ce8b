// The flags every command that talks to a registry takes, and the client options they mean:
//   --creds USER:PASS    credentials (else $REGISTRY_AUTH_FILE, $XDG_RUNTIME_DIR/containers/
//                        auth.json, ~/.docker/config.json)
//   --plain-http         http:// instead of https:// (a loopback or lab registry)
//   --tls-verify=false   https without certificate checks (only when asked)
//   --ca-file PEM        certificate authorities to trust instead of the system's
// Thread-compatible.
#pragma once

#include <set>
#include <string>

#include "imgfs/cli/args.h"
#include "imgfs/registry/registry_client.h"

namespace imgfs::cli {

inline const std::set<std::string> kRegistryValueFlags = {"creds", "tls-verify", "ca-file"};
inline const std::set<std::string> kRegistrySwitches = {"plain-http"};

// `with_value`/`switches` plus the registry flags.
std::set<std::string> WithRegistryFlags(std::set<std::string> flags,
                                        const std::set<std::string>& extra);

Result<registry::ClientOptions> RegistryOptionsFromArgs(const Args& args);

}  // namespace imgfs::cli

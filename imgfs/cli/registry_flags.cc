#include "imgfs/cli/registry_flags.h"

namespace imgfs::cli {

std::set<std::string> WithRegistryFlags(std::set<std::string> flags,
                                        const std::set<std::string>& extra) {
  flags.insert(extra.begin(), extra.end());
  return flags;
}

Result<registry::ClientOptions> RegistryOptionsFromArgs(const Args& args) {
  registry::ClientOptions options;
  if (args.Has("creds")) {
    ASSIGN_OR_RETURN(registry::Credentials c, registry::ParseCredsFlag(args.Get("creds")));
    options.credentials = std::move(c);
  }
  options.plain_http = args.Has("plain-http");
  if (args.Has("tls-verify")) {
    const std::string v = args.Get("tls-verify");
    if (v != "true" && v != "false")
      return Status::InvalidArgument("--tls-verify wants true or false, not \"" + v + "\"");
    options.transport.tls_verify = v == "true";
  }
  options.transport.ca_file = args.Get("ca-file");
  return options;
}

}  // namespace imgfs::cli

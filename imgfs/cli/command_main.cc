#include "imgfs/cli/command_main.h"

#include <stdlib.h>

#include <cstdio>
#include <string>

#include "core/log.h"
#include "imgfs/cli/config.h"
#include "imgfs/cli/examples.h"

namespace imgfs::cli {

bool PrintHelpIfAsked(std::string_view command, const char* usage, const ArgList& args) {
  for (const std::string& a : args) {
    if (a == "--") break;
    if (a == "--help" || a == "-h") {
      std::printf("usage: %s", usage);
      for (const CommandExample& e : kExamples)
        if (e.command == command)
          std::printf("example:\n  %.*s\n", static_cast<int>(e.text.size()), e.text.data());
      return true;
    }
  }
  return false;
}

Status LoadConfig(ArgList& args) {
  std::string path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "--config" && i + 1 < args.size()) {
      path = args[i + 1];
      args.erase(args.begin() + i, args.begin() + i + 2);
      --i;
    } else if (args[i].rfind("--config=", 0) == 0) {
      path = args[i].substr(9);
      args.erase(args.begin() + i);
      --i;
    } else if (args[i] == "--config") {
      return Status::InvalidArgument("--config needs a FILE");
    }
  }
  ASSIGN_OR_RETURN(Config config, Config::Load(path));
  SetLogLevel(*ParseLogLevel(config.Get("log.level")));
  SetLogFormat(*ParseLogFormat(config.Get("log.format")));
  const std::string& credentials = config.Get("credentials_file");
  if (!credentials.empty()) ::setenv("REGISTRY_AUTH_FILE", credentials.c_str(), 1);
  SetGlobalConfig(std::move(config));
  return Status::Ok();
}

int RunCommand(std::string_view command, Result<int> (*run)(const ArgList&), ArgList args,
               ConfigSource source) {
  const int name_len = static_cast<int>(command.size());
  ArgList no_args;
  if (source != ConfigSource::kNone) {
    if (Status s = LoadConfig(source == ConfigSource::kArgs ? args : no_args); !s.ok()) {
      std::fprintf(stderr, "imgfs %.*s: %s\n", name_len, command.data(), s.message().c_str());
      return 2;
    }
  }
  Result<int> rc = run(args);
  if (!rc.ok()) {
    std::fprintf(stderr, "imgfs %.*s: %s\n", name_len, command.data(),
                 rc.status().message().c_str());
    return rc.status().code() == Code::kInvalidArgument ? 2 : 1;
  }
  return *rc;
}

}  // namespace imgfs::cli

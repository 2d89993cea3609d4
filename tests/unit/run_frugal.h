// Runs the frugal binary as a user would and captures stdout, stderr and the exit code.
#pragma once
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "test_paths.h"

namespace frugal::test {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// A shell command line, run as-is (the caller quotes what needs quoting).
inline RunResult run_command(const std::string& command) {
  static int counter = 0;
  const std::string err_path = std::string(::testing::TempDir()) + "frugal_stderr_" + std::to_string(::getpid()) + "_" +
                               std::to_string(counter++);  // tests run in parallel processes
  const std::string cmd = command + " 2>" + err_path + " </dev/null";
  RunResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_file(err_path);
  return r;
}

// `args` is appended to the binary path as-is.
inline RunResult run_frugal(const std::string& args) { return run_command(frugal_binary() + " " + args); }

}  // namespace frugal::test

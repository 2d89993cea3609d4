// What machines do to a training run, done to the real binary on stories260K: SIGKILL at random
// moments (in the middle of checkpoint writes too) and resume, a disk that fills up while a checkpoint
// is written, and an output folder that cannot be written at all.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "train_run_util.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// `frugal <args>` as a child process of its own (sh execs it, so the pid is frugal's), output to `log`.
pid_t spawn_frugal(const std::string& args, const std::string& log) {
  const std::string command = "exec " + test::frugal_binary() + " " + args + " >" + log + " 2>&1 </dev/null";
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Watches a folder's entries being created, renamed and removed: the steps of every atomic write and
// checkpoint save in the output folder.
class FolderEvents {
 public:
  explicit FolderEvents(const std::string& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (fd_ >= 0) ::inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE);
  }
  ~FolderEvents() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  // Waits up to `ms` for events; returns how many arrived.
  int wait(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return 0;
    alignas(inotify_event) char buf[8192];
    int n = 0;
    for (ssize_t got; (got = ::read(fd_, buf, sizeof buf)) > 0;)
      for (ssize_t at = 0; at < got; ++n)
        at += static_cast<ssize_t>(sizeof(inotify_event) + reinterpret_cast<inotify_event*>(buf + at)->len);
    return n;
  }

 private:
  int fd_;
};

// How a child ended, and whether it was the SIGKILL we sent.
struct Ending {
  bool killed = false;
  int exit_code = -1;
};

// Runs `frugal args`, SIGKILLing it after `kill_after_events` events in `dir` or `kill_after_ms`
// milliseconds, whichever comes first (0 = never); returns how it ended.
Ending run_and_maybe_kill(const std::string& args, const std::string& dir, const std::string& log,
                          int kill_after_events, int kill_after_ms, int* events_seen = nullptr) {
  FolderEvents events(dir);
  EXPECT_TRUE(events.ok());
  const pid_t pid = spawn_frugal(args, log);
  const auto start = Clock::now();
  int seen = 0, status = 0;
  bool done = false;
  while (!done) {
    seen += events.wait(1);
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      done = true;
      break;
    }
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    if ((kill_after_events > 0 && seen >= kill_after_events) || (kill_after_ms > 0 && ms >= kill_after_ms)) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      done = true;
    }
  }
  seen += events.wait(0);
  if (events_seen) *events_seen = seen;
  Ending e;
  e.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  e.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return e;
}

// What a checkpoint save interrupted by the kill leaves: its folder being written or renamed aside,
// or the `latest` pointer being replaced.
bool save_in_progress_left(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool checkpoint = name.rfind("checkpoint-", 0) == 0 || name.rfind("latest.", 0) == 0;
    if (checkpoint && (name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos)) return true;
  }
  return false;
}

// Anything a writer killed part-way leaves, anywhere under `dir`.
std::vector<std::string> debris(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos)
      found.push_back(entry.path().string());
  }
  return found;
}

TEST(CrashSafety, KilledAtRandomMomentsResumesFromLatestAndEndsIdentically) {
  const std::string data = test::story_dataset("kill", 32);
  const std::string settings =
      "--method full --learning_rate 1e-3 --micro_batch_size 4 --max_steps 6 --save_steps 2 --seed 7";
  // The uninterrupted run: its losses, final weights and moments are what every killed chain must reach.
  const std::string ref = test::fresh_dir("kill_ref");
  fs::create_directories(ref);
  int ref_events = 0;
  const auto t0 = Clock::now();
  const Ending r = run_and_maybe_kill(test::stories_train_args(data, ref, settings), ref, ref + ".log", 0, 0, &ref_events);
  const int ref_ms = static_cast<int>(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  ASSERT_EQ(r.exit_code, 0) << test::read_file(ref + ".log");
  const std::vector<nlohmann::json> ref_metrics = test::metrics_lines(ref);
  ASSERT_EQ(ref_metrics.size(), 6u);
  const test::LoadedCheckpoint ref_final = test::load_checkpoint_folder(ref + "/checkpoint-6");

  std::mt19937 rng(20261203);  // fixed: a failure replays the same kills
  const std::string out = test::fresh_dir("kill_out");
  const std::string log = out + ".log";
  int kills = 0, kills_mid_save = 0, chains = 0, runs = 0;
  fs::create_directories(out);
  while (kills < 20 && runs < 200) {
    ++runs;
    // What a user's restart script does: resume from the newest checkpoint when there is one.
    const bool resume = latest_checkpoint(out).has_value();
    const std::string args =
        test::stories_train_args(data, out, settings + (resume ? " --resume_from_checkpoint latest" : ""));
    // Half the kills come after a random number of the folder's events (a temporary created, a rename,
    // a removal: moments inside atomic writes and checkpoint saves), half after a random time.
    const bool by_event = rng() % 2 == 0;
    const int after_events = by_event ? 1 + static_cast<int>(rng() % static_cast<unsigned>(ref_events)) : 0;
    const int after_ms = by_event ? 0 : 1 + static_cast<int>(rng() % static_cast<unsigned>(ref_ms));
    const Ending e = run_and_maybe_kill(args, out, log, after_events, after_ms);
    if (e.killed) {
      ++kills;
      kills_mid_save += save_in_progress_left(out);
      // Whatever the moment, the newest checkpoint a resume would pick loads (sizes and checksums verified).
      if (const auto latest = latest_checkpoint(out)) {
        EXPECT_NO_THROW(test::load_checkpoint_folder(*latest)) << "after kill " << kills << ": " << *latest;
      }
      continue;
    }
    ASSERT_EQ(e.exit_code, 0) << "run " << runs << (resume ? " (resumed)" : "") << ": " << test::read_file(log);
    // A chain of killed and resumed runs finished: it must have trained exactly like the reference.
    ++chains;
    const std::vector<nlohmann::json> m = test::metrics_lines(out);
    ASSERT_EQ(m.size(), ref_metrics.size()) << "chain " << chains;
    for (size_t i = 0; i < m.size(); ++i) {
      EXPECT_EQ(m[i]["step"], ref_metrics[i]["step"]);
      EXPECT_EQ(m[i]["step_loss"], ref_metrics[i]["step_loss"]) << "chain " << chains << " step " << i + 1;
    }
    const test::LoadedCheckpoint fin = test::load_checkpoint_folder(out + "/checkpoint-6");
    EXPECT_EQ(fin.values, ref_final.values) << "chain " << chains;
    EXPECT_EQ(fin.m, ref_final.m) << "chain " << chains;
    EXPECT_EQ(fin.v, ref_final.v) << "chain " << chains;
    // And the run that finished cleared what the killed ones left half-written.
    EXPECT_EQ(debris(out), std::vector<std::string>()) << "chain " << chains;
    fs::remove_all(out);
    fs::create_directories(out);
  }
  EXPECT_EQ(kills, 20);
  // The last chain is finished without kills.
  if (latest_checkpoint(out)) {
    const Ending e = run_and_maybe_kill(
        test::stories_train_args(data, out, settings + " --resume_from_checkpoint latest"), out, log, 0, 0);
    ASSERT_EQ(e.exit_code, 0) << test::read_file(log);
    ++chains;
    const test::LoadedCheckpoint fin = test::load_checkpoint_folder(out + "/checkpoint-6");
    EXPECT_EQ(fin.values, ref_final.values);
    EXPECT_EQ(fin.m, ref_final.m);
    EXPECT_EQ(fin.v, ref_final.v);
    EXPECT_EQ(debris(out), std::vector<std::string>());
    const std::vector<nlohmann::json> m = test::metrics_lines(out);
    ASSERT_EQ(m.size(), ref_metrics.size());
    for (size_t i = 0; i < m.size(); ++i) EXPECT_EQ(m[i]["step_loss"], ref_metrics[i]["step_loss"]) << i + 1;
  }
  std::printf("%d kills (%d in the middle of a checkpoint save) over %d runs, %d chains resumed to the end; reference "
              "run %d ms, %d folder events\n", kills, kills_mid_save, runs, chains, ref_ms, ref_events);
}

// A private mount namespace, so a tmpfs mounted there disappears with the shell: `unshare -m` as
// root (CI), or as an unprivileged user in a user namespace where the kernel allows it.
std::string private_mount_shell() {
  const std::string unshare = ::geteuid() == 0 ? "unshare -m " : "unshare -Urm ";
  if (test::run_command(unshare + "sh -c 'mount -t tmpfs -o size=64k tmpfs /mnt'").exit_code != 0) return "";
  return unshare;
}

TEST(CrashSafety, FullDiskFailsTheSaveInOneLineAndKeepsThePreviousCheckpoint) {
  const std::string unshare = private_mount_shell();
  if (unshare.empty()) GTEST_SKIP() << "cannot mount a tmpfs in a private mount namespace here (unshare -m)";
  const std::string data = test::story_dataset("full_disk", 32);
  const std::string disk = test::fresh_dir("full_disk_mnt");
  const std::string copy = test::fresh_dir("full_disk_copy");
  fs::create_directories(disk);
  // Full fine-tuning of stories260K: a checkpoint holds 3 x 260032 floats (3.1 MB). 8 MB holds two;
  // the third save (step 6) runs out of space part-way through its tensors file.
  const std::string out = disk + "/out";
  const std::string train = test::frugal_binary() + " " +
                            test::stories_train_args(data, out, "--method full --learning_rate 1e-3 --micro_batch_size 4 "
                                                                "--max_steps 6 --save_steps 2");
  // The output folder is copied out of the tmpfs before the namespace (and the mount) goes away.
  test::RunResult r = test::run_command(unshare + "sh -c 'mount -t tmpfs -o size=8m tmpfs " + disk + " && " + train +
                                        "; rc=$?; cp -a " + out + " " + copy + "; exit $rc'");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const std::vector<std::string> lines = test::text_lines(r.err);
  ASSERT_FALSE(lines.empty());
  const std::string error = lines.back();
  EXPECT_EQ(error.rfind("frugal train: error: " + out + "/checkpoint-6.tmp-", 0), 0u) << r.err;
  EXPECT_NE(error.find("No space left on device (checkpoint-6 not saved; " + out + "/checkpoint-4 is intact)"),
            std::string::npos) << error;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n') - (lines.size() - 1), 1u);  // the error is one line

  // The previous checkpoint is intact, `latest` names it, and the failed save left nothing behind.
  ASSERT_TRUE(fs::exists(copy + "/checkpoint-4")) << r.err;
  EXPECT_FALSE(fs::exists(copy + "/checkpoint-6"));
  EXPECT_FALSE(save_in_progress_left(copy));
  EXPECT_EQ(latest_checkpoint(copy), copy + "/checkpoint-4");
  const test::LoadedCheckpoint c = test::load_checkpoint_folder(copy + "/checkpoint-4");
  EXPECT_EQ(c.state.step, 4);
  // With space again, the run continues from it to the end.
  test::RunResult resumed = test::run_frugal(test::stories_train_args(
      data, copy, "--method full --learning_rate 1e-3 --micro_batch_size 4 --max_steps 6 --save_steps 2 "
                  "--resume_from_checkpoint latest"));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(fs::exists(copy + "/checkpoint-6"));
}

// The folder is refused before anything else: the model path here does not even exist, and the
// error is about the folder, not the model.
void expect_output_dir_refused(const std::string& prefix, const std::string& output_dir, const std::string& why) {
  const std::string data = test::story_dataset("unwritable", 4);
  test::RunResult r = test::run_command(prefix + test::frugal_binary() + " train --base_model /nonexistent/model.gguf --dataset " +
                                        data + " --output_dir " + output_dir);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err, "frugal train: error: " + output_dir + ": output_dir: " + why + "\n");
}

TEST(CrashSafety, UnwritableOutputFolderIsRefusedBeforeTheModelLoads) {
  // A path through a regular file: the folder cannot be created.
  const std::string file = test::fresh_dir("unwritable_file");
  std::ofstream(file) << "not a folder";
  expect_output_dir_refused("", file + "/out", "cannot create the folder: Not a directory");
  // An existing folder that cannot be written: read-only permissions (root ignores them, so as root
  // a read-only mount in a private namespace instead).
  const std::string dir = test::fresh_dir("unwritable_dir");
  fs::create_directories(dir);
  if (::geteuid() != 0) {
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    expect_output_dir_refused("", dir, "cannot write into the folder: Permission denied");
    fs::permissions(dir, fs::perms::owner_all);
    return;
  }
  const std::string unshare = private_mount_shell();
  if (unshare.empty()) GTEST_SKIP() << "as root, a read-only folder needs a mount (unshare -m)";
  // The command goes to sh -c '...': the mount first, then frugal in the same namespace.
  const std::string data = test::story_dataset("unwritable", 4);
  test::RunResult r = test::run_command(unshare + "sh -c 'mount -t tmpfs -o ro,size=64k tmpfs " + dir + " && " +
                                        test::frugal_binary() + " train --base_model /nonexistent/model.gguf --dataset " +
                                        data + " --output_dir " + dir + "'");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.err, "frugal train: error: " + dir + ": output_dir: cannot write into the folder: Read-only file system\n");
}

}  // namespace
}  // namespace frugal

// Durability of saved files (issue 13, defects 6 and 7): the atomic writer (common/atomic_file.h),
// the writers' lock (common/file_lock.h), and, through the CLI, concurrent `index add`/`remove`
// (no lost update), saves killed at random points (old or new content, temporaries cleaned by
// the next save) and concurrent model writes / `convert` to one output (always a valid model).
// The CLI tests use the tiny hand-made model (tests/model_test_util.h): a process run is ~10 ms.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/atomic_file.h"
#include "common/file_lock.h"
#include "model/model.h"
#include "model/model_file.h"
#include "model_test_util.h"
#include "retrieval/index.h"
#include "test_paths.h"

using namespace bertrank;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string cli() { return std::string(BERTRANK_BINARY_DIR) + "/bertrank"; }

// Test directories, removed when the test process exits (forked children _exit, skipping this).
struct DirCleanup {
  std::vector<std::string> dirs;
  ~DirCleanup() {
    std::error_code ec;
    for (const auto& d : dirs) {
      fs::remove_all(d, ec);
      fs::remove(fs::path(d).parent_path(), ec);  // only if empty (other tests may share it)
    }
  }
};
DirCleanup g_cleanup;

std::string fresh_dir(const std::string& name) {
  const std::string d = test::tmp_dir("durability_" + name);
  for (const auto& e : fs::directory_iterator(d)) fs::remove_all(e.path());
  g_cleanup.dirs.push_back(d);
  return d;
}

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Names in `dir` that are temporaries of `target` (any "<name>.tmp..." file).
std::vector<std::string> temps_of(const std::string& target) {
  const fs::path t(target);
  const std::string prefix = t.filename().string() + ".tmp";
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(t.parent_path()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path().filename().string());
  return out;
}

// A pid that certainly belonged to a process that has exited (and been reaped).
long dead_pid() {
  const pid_t p = fork();
  if (p == 0) _exit(0);
  int st = 0;
  waitpid(p, &st, 0);
  return long(p);
}

// Starts the CLI with `args` (stdout/stderr to files), optionally with extra environment.
// Everything the child needs is built before fork; the child only dup2s and execs.
pid_t spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err,
            const std::vector<std::string>& env_extra = {}) {
  std::vector<std::string> a = {cli()};
  a.insert(a.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) env_store.push_back(*e);
  env_store.push_back("OMP_NUM_THREADS=1");
  for (const auto& e : env_extra) env_store.push_back(e);
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(const_cast<char*>(s.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) _exit(127);
    dup2(o, 1);
    dup2(e, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

// Exit code, or 128 + signal.
int wait_for(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int run_cli(const std::vector<std::string>& args, const std::string& dir, std::string* err = nullptr) {
  const int rc = wait_for(spawn(args, dir + "/run.out", dir + "/run.err"));
  if (err) *err = slurp(dir + "/run.err");
  return rc;
}

std::string doc_line(int64_t id) {
  static const char* w[] = {"hello", "world", "the", "a", "worlds", "hello world", "a hello", "the world"};
  return "{\"id\": " + std::to_string(id) + ", \"text\": \"" + w[id % 8] + " " + w[(id * 5 + 3) % 8] + "\"}\n";
}

void write_docs(const std::string& path, const std::vector<int64_t>& ids) {
  std::ofstream f(path);
  for (int64_t id : ids) f << doc_line(id);
}

std::vector<int64_t> range_ids(int64_t from, int64_t n) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(from + i);
  return v;
}

std::string id_list(const std::vector<int64_t>& ids) {
  std::string s;
  for (int64_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

// The set of ids of the index at `path`, checked against a universe of possible ids.
std::set<int64_t> ids_in(const std::string& path, const std::set<int64_t>& universe) {
  const retrieval::Index idx = retrieval::Index::load(path);
  std::set<int64_t> got;
  for (int64_t id : universe)
    if (idx.contains(id)) got.insert(id);
  EXPECT_EQ(got.size(), idx.size()) << path << " holds ids outside the expected universe";
  return got;
}

// Builds an index from the tiny model over `ids`; returns its path.
std::string build_index(const std::string& dir, const std::vector<int64_t>& ids) {
  test::TinyModel tiny;
  tiny.write(dir + "/tiny.brm");
  write_docs(dir + "/base.jsonl", ids);
  const std::string idx = dir + "/x.bri";
  std::string err;
  EXPECT_EQ(run_cli({"index", "build", "-m", dir + "/tiny.brm", "--docs", dir + "/base.jsonl", "-o", idx}, dir, &err), 0)
      << err;
  return idx;
}

#define SKIP_WITHOUT_CLI() \
  if (!test::exists(cli())) GTEST_SKIP() << "no " << cli() << " (build the bertrank target)"

}  // namespace

// ---- the atomic writer ----------------------------------------------------------------------

TEST(AtomicFile, ReplacesTheTargetAndLeavesNoTemporary) {
  const std::string dir = fresh_dir("basic"), t = dir + "/f.bin";
  write_file_atomic(t, "old", 3);
  {
    AtomicFileWriter w(t);
    EXPECT_EQ(w.temp_path().rfind(t + ".tmp-" + std::to_string(getpid()) + "-", 0), 0u) << w.temp_path();
    EXPECT_TRUE(fs::exists(w.temp_path()));
    w.write("nex", 3);
    w.pwrite_at(2, "w", 1);
    EXPECT_THROW(w.pwrite_at(2, "ab", 2), std::runtime_error);  // past what was written
    EXPECT_EQ(slurp(t), "old");                                  // untouched until commit
    w.commit();
  }
  EXPECT_EQ(slurp(t), "new");
  EXPECT_TRUE(temps_of(t).empty());
  // Destroyed without commit (an exception in the caller): the temporary goes, the target stays.
  {
    AtomicFileWriter w(t);
    w.write("partial", 7);
  }
  EXPECT_EQ(slurp(t), "new");
  EXPECT_TRUE(temps_of(t).empty());
}

TEST(AtomicFile, ErrorsNameThePathAndLeaveNothingBehind) {
  const std::string dir = fresh_dir("errors");
  // Missing directory.
  try {
    write_file_atomic(dir + "/no/such/dir/f.bin", "x", 1);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/no/such/dir/f.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos) << e.what();
  }
  // The target is a directory: the rename fails; the temporary must not stay.
  fs::create_directories(dir + "/isdir");
  try {
    write_file_atomic(dir + "/isdir", "x", 1);
    ADD_FAILURE() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("rename"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir + "/isdir"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(temps_of(dir + "/isdir").empty());
  // A write that fails part-way (file size limit, as a full disk would): error naming the
  // file and errno, nothing left, old content kept. In a child, so the limit stays there.
  const std::string t = dir + "/big.bin";
  write_file_atomic(t, "keep", 4);
  const pid_t pid = fork();
  if (pid == 0) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {4096, 4096};
    setrlimit(RLIMIT_FSIZE, &rl);
    std::vector<char> buf(100000, 'x');
    try {
      write_file_atomic(t, buf.data(), buf.size());
      _exit(1);
    } catch (const std::runtime_error& e) {
      const std::string m = e.what();
      _exit(m.find("cannot write") != std::string::npos && m.find(t) != std::string::npos &&
                    m.find("File too large") != std::string::npos
                ? 0
                : 2);
    }
  }
  EXPECT_EQ(wait_for(pid), 0) << "expected a 'cannot write ... File too large' error";
  EXPECT_EQ(slurp(t), "keep");
  EXPECT_TRUE(temps_of(t).empty());
}

TEST(AtomicFile, TempNamesAreRecognisedStrictly) {
  long pid = 0;
  EXPECT_TRUE(parse_temp_name("x.bri", "x.bri.tmp-1234", &pid));
  EXPECT_EQ(pid, 1234);
  EXPECT_TRUE(parse_temp_name("x.bri", "x.bri.tmp-77-aZ09xy", &pid));
  EXPECT_EQ(pid, 77);
  for (const char* bad : {"x.bri.tmp", "x.bri.tmp-", "x.bri.tmp-0", "x.bri.tmp-12a", "x.bri.tmp-12-abc",
                          "x.bri.tmp-12-abcdefg", "x.bri.tmp-12-ab_cde", "y.bri.tmp-12", "x.bri.tmp-1234567890",
                          "x.bri.tmp--5", "x.bri"})
    EXPECT_FALSE(parse_temp_name("x.bri", bad, &pid)) << bad;
}

TEST(AtomicFile, RemovesStaleTempsOnlyOfDeadOrOldWriters) {
  const std::string dir = fresh_dir("stale"), t = dir + "/m.brm";
  write_file_atomic(t, "v1", 2);
  const long dead = dead_pid(), live = long(getpid()), parent = long(getppid());
  const std::string d = std::to_string(dead);
  auto touch = [&](const std::string& name) { std::ofstream(dir + "/" + name) << "junk"; };
  // Removed: a dead writer's temporaries in both forms; a live pid's temporary untouched for 2 days.
  touch("m.brm.tmp-" + d);
  touch("m.brm.tmp-" + d + "-abcDE9");
  touch("m.brm.tmp-" + std::to_string(parent) + "-oldold");
  struct timeval tv[2];
  tv[0].tv_sec = tv[1].tv_sec = time(nullptr) - 2 * 24 * 3600;
  tv[0].tv_usec = tv[1].tv_usec = 0;
  ASSERT_EQ(utimes((dir + "/m.brm.tmp-" + std::to_string(parent) + "-oldold").c_str(), tv), 0);
  // Kept: a live writer's fresh temporaries, other targets' temporaries, names not ours.
  const std::vector<std::string> kept = {"m.brm.tmp-" + std::to_string(live) + "-live01",
                                         "m.brm.tmp-" + std::to_string(parent),
                                         "m.brm.tmp",
                                         "m.brm.tmp-" + d + "-toolong1",
                                         "m.brm.tmp-" + d + "x",
                                         "other.brm.tmp-" + d,
                                         "m.brm.lock"};
  for (const auto& k : kept) touch(k);
  write_file_atomic(t, "v2", 2);
  EXPECT_EQ(slurp(t), "v2");
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.insert(e.path().filename().string());
  std::set<std::string> want(kept.begin(), kept.end());
  want.insert("m.brm");
  EXPECT_EQ(left, want);
  EXPECT_EQ(remove_stale_temps(t), 0u);
}

TEST(AtomicFile, ConcurrentWritersNeverTouchEachOthersTemp) {
  const std::string dir = fresh_dir("live"), t = dir + "/f.bin";
  // Two writers in this process, interleaved: separate temporaries, last commit wins.
  AtomicFileWriter a(t);
  a.write("aaaa", 4);
  AtomicFileWriter b(t);  // its stale-temp scan must leave a's temporary alone
  EXPECT_NE(a.temp_path(), b.temp_path());
  EXPECT_TRUE(fs::exists(a.temp_path()));
  b.write("bb", 2);
  b.commit();
  a.commit();
  EXPECT_EQ(slurp(t), "aaaa");
  // A writer in another live process, paused mid-save while this process saves twice.
  int go[2], ready[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    AtomicFileWriter w(t);
    w.write("child", 5);
    char c = 1;
    (void)!::write(ready[1], &c, 1);
    (void)!::read(go[0], &c, 1);
    w.commit();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(temps_of(t).size(), 1u);
  const std::string child_temp = dir + "/" + temps_of(t)[0];
  write_file_atomic(t, "parent", 6);
  write_file_atomic(t, "parent2", 7);
  EXPECT_TRUE(fs::exists(child_temp)) << "a live writer's temporary was deleted";
  (void)!::write(go[1], &c, 1);
  EXPECT_EQ(wait_for(pid), 0);
  EXPECT_EQ(slurp(t), "child");
  EXPECT_TRUE(temps_of(t).empty());
  for (int fd : {go[0], go[1], ready[0], ready[1]}) close(fd);
}

TEST(AtomicFile, TestHookKillsAfterExactBytesAndNextSaveCleansUp) {
  const std::string dir = fresh_dir("hook"), t = dir + "/f.bin";
  write_file_atomic(t, "old", 3);
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("BERTRANK_TEST_SAVE_EXIT_AFTER_BYTES", "40", 1);
    std::vector<char> buf(100, 'n');
    write_file_atomic(t, buf.data(), buf.size());
    _exit(0);  // not reached
  }
  EXPECT_EQ(wait_for(pid), kSaveTestExitCode);
  EXPECT_EQ(slurp(t), "old");
  const auto temps = temps_of(t);
  ASSERT_EQ(temps.size(), 1u);
  EXPECT_EQ(fs::file_size(dir + "/" + temps[0]), 40u);
  write_file_atomic(t, "new", 3);
  EXPECT_EQ(slurp(t), "new");
  EXPECT_TRUE(temps_of(t).empty());
}

// ---- the lock -------------------------------------------------------------------------------

TEST(FileLock, ExcludesOtherHoldersAndWaitsForRelease) {
  const std::string dir = fresh_dir("lock"), t = dir + "/x.bri";
  std::optional<FileLock> held;
  held.emplace(t, FileLock::Wait::block);
  EXPECT_EQ(held->lock_path(), t + ".lock");
  try {
    FileLock again(t, FileLock::Wait::no_wait);  // another descriptor, same process: excluded
    ADD_FAILURE() << "second lock acquired";
  } catch (const FileLockBusy& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("locked by another writer"), std::string::npos) << m;
    EXPECT_NE(m.find(t + ".lock"), std::string::npos) << m;
    EXPECT_NE(m.find("pid " + std::to_string(getpid())), std::string::npos) << m;
  }
  std::atomic<bool> released{false}, got{false}, got_before_release{false};
  std::thread waiter([&] {
    FileLock l(t, FileLock::Wait::block);
    got_before_release = !released.load();
    got = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_FALSE(got.load()) << "the waiter did not wait";
  released = true;
  held.reset();
  waiter.join();
  EXPECT_TRUE(got.load());
  EXPECT_FALSE(got_before_release.load());
  FileLock after(t, FileLock::Wait::no_wait);  // free again
  EXPECT_THROW(FileLock(dir + "/no/such/x.bri", FileLock::Wait::block), std::runtime_error);
}

// Threads of one process doing read-modify-write under the lock: no increment is lost.
TEST(FileLock, SerialisesReadModifyWriteAcrossThreads) {
  const std::string dir = fresh_dir("rmw"), t = dir + "/counter";
  write_file_atomic(t, "0", 1);
  std::vector<std::thread> th;
  for (int i = 0; i < 4; ++i)
    th.emplace_back([&] {
      for (int k = 0; k < 25; ++k) {
        const FileLock l(t, FileLock::Wait::block);
        const std::string v = std::to_string(std::stoi(slurp(t)) + 1);
        write_file_atomic(t, v.data(), v.size());
      }
    });
  for (auto& x : th) x.join();
  EXPECT_EQ(slurp(t), "100");
  EXPECT_TRUE(temps_of(t).empty());
}

// ---- index writers through the CLI ----------------------------------------------------------

// 8 concurrent `index add` of disjoint documents: every document is there afterwards.
TEST(IndexDurabilityCli, ConcurrentAddsLoseNothing) {
  SKIP_WITHOUT_CLI();
  const std::string dir = fresh_dir("adds");
  const std::string idx = build_index(dir, range_ids(0, 10));
  std::set<int64_t> want, universe;
  for (int64_t i = 0; i < 10; ++i) want.insert(i);
  for (int round = 0; round < 2; ++round) {
    std::vector<pid_t> pids;
    for (int p = 0; p < 8; ++p) {
      const auto ids = range_ids(1000 + round * 100 + p * 10, 5);
      want.insert(ids.begin(), ids.end());
      const std::string d = dir + "/add" + std::to_string(p);
      write_docs(d + ".jsonl", ids);
      pids.push_back(spawn({"index", "add", "-i", idx, "--docs", d + ".jsonl"}, d + ".out", d + ".err"));
    }
    for (int p = 0; p < 8; ++p)
      EXPECT_EQ(wait_for(pids[p]), 0) << slurp(dir + "/add" + std::to_string(p) + ".err");
    universe = want;
    EXPECT_EQ(ids_in(idx, universe), want) << "round " << round << ": documents of a concurrent add were lost";
  }
  EXPECT_TRUE(temps_of(idx).empty());
}

// add and remove at the same time: both changes land, whatever the order.
TEST(IndexDurabilityCli, ConcurrentAddAndRemoveBothApply) {
  SKIP_WITHOUT_CLI();
  const std::string dir = fresh_dir("addrm");
  const std::string idx = build_index(dir, range_ids(0, 40));
  std::set<int64_t> want;
  for (int64_t i = 0; i < 40; ++i) want.insert(i);
  std::set<int64_t> universe = want;
  for (int round = 0; round < 4; ++round) {
    const auto add1 = range_ids(100 + round * 20, 5), add2 = range_ids(110 + round * 20, 5);
    const auto rm1 = range_ids(round * 10, 5), rm2 = range_ids(round * 10 + 5, 5);
    write_docs(dir + "/a1.jsonl", add1);
    write_docs(dir + "/a2.jsonl", add2);
    const pid_t p1 = spawn({"index", "add", "-i", idx, "--docs", dir + "/a1.jsonl"}, dir + "/1.out", dir + "/1.err");
    const pid_t p2 = spawn({"index", "remove", "-i", idx, "--ids", id_list(rm1)}, dir + "/2.out", dir + "/2.err");
    const pid_t p3 = spawn({"index", "add", "-i", idx, "--docs", dir + "/a2.jsonl"}, dir + "/3.out", dir + "/3.err");
    const pid_t p4 = spawn({"index", "remove", "-i", idx, "--ids", id_list(rm2)}, dir + "/4.out", dir + "/4.err");
    EXPECT_EQ(wait_for(p1), 0) << slurp(dir + "/1.err");
    EXPECT_EQ(wait_for(p2), 0) << slurp(dir + "/2.err");
    EXPECT_EQ(wait_for(p3), 0) << slurp(dir + "/3.err");
    EXPECT_EQ(wait_for(p4), 0) << slurp(dir + "/4.err");
    for (int64_t i : add1) want.insert(i), universe.insert(i);
    for (int64_t i : add2) want.insert(i), universe.insert(i);
    for (int64_t i : rm1) want.erase(i);
    for (int64_t i : rm2) want.erase(i);
    EXPECT_EQ(ids_in(idx, universe), want) << "round " << round;
  }
}

// A writer that finds the index locked waits (default) or, with --no-wait, fails at once with a
// clear message and a non-zero exit, leaving the index as it was.
TEST(IndexDurabilityCli, LockedIndexWaitsOrFailsClearlyWithNoWait) {
  SKIP_WITHOUT_CLI();
  const std::string dir = fresh_dir("nowait");
  const std::string idx = build_index(dir, range_ids(0, 10));
  std::set<int64_t> universe;
  for (int64_t i = 0; i < 10; ++i) universe.insert(i);
  for (int64_t i = 500; i < 505; ++i) universe.insert(i);
  write_docs(dir + "/more.jsonl", range_ids(500, 5));
  {
    std::optional<FileLock> held;
    held.emplace(idx, FileLock::Wait::block);
    const std::string before = slurp(idx);
    std::string err;
    EXPECT_EQ(run_cli({"index", "add", "-i", idx, "--docs", dir + "/more.jsonl", "--no-wait"}, dir, &err), 1);
    EXPECT_NE(err.find("locked by another writer"), std::string::npos) << err;
    EXPECT_NE(err.find(idx + ".lock"), std::string::npos) << err;
    EXPECT_EQ(run_cli({"index", "remove", "-i", idx, "--ids", "1,2", "--no-wait"}, dir, &err), 1);
    EXPECT_NE(err.find("locked by another writer"), std::string::npos) << err;
    EXPECT_EQ(run_cli({"index", "build", "-m", dir + "/tiny.brm", "--docs", dir + "/more.jsonl", "-o", idx,
                       "--no-wait"},
                      dir, &err),
              1);
    EXPECT_NE(err.find("locked by another writer"), std::string::npos) << err;
    EXPECT_TRUE(slurp(idx) == before) << "the index changed while another writer held its lock";
    // Without --no-wait the writer waits for the lock, says so, and applies its change after.
    const pid_t p = spawn({"index", "add", "-i", idx, "--docs", dir + "/more.jsonl"}, dir + "/w.out", dir + "/w.err");
    for (int i = 0; i < 1000 && slurp(dir + "/w.err").find("waiting") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_NE(slurp(dir + "/w.err").find("waiting"), std::string::npos) << slurp(dir + "/w.err");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    int st = 0;
    EXPECT_EQ(waitpid(p, &st, WNOHANG), 0) << "the writer did not wait for the lock";
    EXPECT_TRUE(slurp(idx) == before) << "the index changed while another writer held its lock";
    held.reset();  // release: the waiter goes on
    EXPECT_EQ(wait_for(p), 0) << slurp(dir + "/w.err");
  }
  EXPECT_EQ(ids_in(idx, universe).size(), 15u);
}

// 8 concurrent `index add --no-wait`: the ones that lose the race exit non-zero with the lock
// message; exactly the documents of the ones that exited 0 are there.
TEST(IndexDurabilityCli, ConcurrentNoWaitAddsFailLoudlyNeverSilently) {
  SKIP_WITHOUT_CLI();
  const std::string dir = fresh_dir("nowait8");
  const std::string idx = build_index(dir, range_ids(0, 10));
  std::set<int64_t> want, universe;
  for (int64_t i = 0; i < 10; ++i) want.insert(i), universe.insert(i);
  std::vector<pid_t> pids;
  std::vector<std::vector<int64_t>> batches;
  for (int p = 0; p < 8; ++p) {
    batches.push_back(range_ids(2000 + p * 10, 5));
    universe.insert(batches.back().begin(), batches.back().end());
    const std::string d = dir + "/add" + std::to_string(p);
    write_docs(d + ".jsonl", batches.back());
    pids.push_back(spawn({"index", "add", "-i", idx, "--docs", d + ".jsonl", "--no-wait"}, d + ".out", d + ".err"));
  }
  int ok = 0;
  for (int p = 0; p < 8; ++p) {
    const int rc = wait_for(pids[p]);
    const std::string err = slurp(dir + "/add" + std::to_string(p) + ".err");
    if (rc == 0) {
      ++ok;
      want.insert(batches[p].begin(), batches[p].end());
    } else {
      EXPECT_EQ(rc, 1) << err;
      EXPECT_NE(err.find("locked by another writer"), std::string::npos) << err;
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_EQ(ids_in(idx, universe), want);
}

// SIGKILL during `index add` / `index remove`, 200 times: at an exact byte of the save (the test
// hook) or by a real kill -9 after a random delay. The index always loads with the old or the new
// content; after every save that completes, no temporary of the index is left.
TEST(IndexDurabilityCli, KilledAddOrRemoveLeavesOldOrNewAndNoTempAfterNextSave) {
  SKIP_WITHOUT_CLI();
  const std::string dir = fresh_dir("kill");
  const std::string idx = build_index(dir, range_ids(0, 30));
  std::set<int64_t> state, universe;
  for (int64_t i = 0; i < 30; ++i) state.insert(i), universe.insert(i);
  const uint64_t file_bytes = fs::file_size(idx);
  std::mt19937_64 rng(20261201);
  // Time one clean add to scale the random kill delays.
  write_docs(dir + "/warm.jsonl", {900});
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run_cli({"index", "add", "-i", idx, "--docs", dir + "/warm.jsonl"}, dir), 0);
  const double run_us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  state.insert(900), universe.insert(900);
  int old_seen = 0, new_seen = 0, temps_left = 0, completed = 0, clean_checks = 0;
  for (int it = 0; it < 200; ++it) {
    // Odd iterations remove what the previous one added (if it got in), even ones add 3 documents.
    const auto batch = range_ids(10000 + (it / 2) * 3, 3);
    const bool add = it % 2 == 0;
    std::set<int64_t> next = state;
    std::vector<std::string> args;
    if (add) {
      write_docs(dir + "/b.jsonl", batch);
      args = {"index", "add", "-i", idx, "--docs", dir + "/b.jsonl"};
      next.insert(batch.begin(), batch.end());
      universe.insert(batch.begin(), batch.end());
    } else {
      args = {"index", "remove", "-i", idx, "--ids", id_list(batch)};
      for (int64_t i : batch) next.erase(i);
    }
    std::vector<std::string> env;
    const bool hook = it % 4 < 2;
    if (hook) env.push_back("BERTRANK_TEST_SAVE_EXIT_AFTER_BYTES=" + std::to_string(rng() % (file_bytes + 64)));
    const pid_t p = spawn(args, dir + "/k.out", dir + "/k.err", env);
    if (!hook) {
      std::this_thread::sleep_for(std::chrono::microseconds(uint64_t(rng() % uint64_t(run_us * 1.3 + 1))));
      kill(p, SIGKILL);
    }
    const int rc = wait_for(p);
    ASSERT_TRUE(rc == 0 || rc == kSaveTestExitCode || rc == 128 + SIGKILL) << "exit " << rc << ": " << slurp(dir + "/k.err");
    std::set<int64_t> got;
    try {
      got = ids_in(idx, universe);
    } catch (const std::exception& e) {
      FAIL() << "iteration " << it << ": the index does not load after a killed save: " << e.what();
    }
    ASSERT_TRUE(got == state || got == next) << "iteration " << it << ": neither the old nor the new content";
    if (rc == 0) {
      EXPECT_EQ(got, next) << "iteration " << it;
    }
    (got == state ? old_seen : new_seen) += 1;
    if (!temps_of(idx).empty()) ++temps_left;
    state = got;
    if (rc == 0) {
      ++completed;
      EXPECT_TRUE(temps_of(idx).empty()) << "iteration " << it << ": a completed save left " << temps_of(idx)[0];
    }
    if (it % 10 == 9) {  // a clean save: must remove every temporary the killed ones left
      write_docs(dir + "/c.jsonl", {20000 + it});
      ASSERT_EQ(run_cli({"index", "add", "-i", idx, "--docs", dir + "/c.jsonl"}, dir), 0);
      state.insert(20000 + it), universe.insert(20000 + it);
      ++clean_checks;
      const auto left = temps_of(idx);
      EXPECT_TRUE(left.empty()) << "iteration " << it << ": the next save left " << left.size()
                                << " temporaries, e.g. " << left[0];
    }
  }
  EXPECT_EQ(ids_in(idx, universe), state);
  // The kills must have hit saves part-way for this test to mean anything.
  EXPECT_GT(temps_left, 40) << "killed saves that left a partial temporary";
  EXPECT_GT(old_seen, 40);
  EXPECT_GT(new_seen, 10);
  EXPECT_EQ(clean_checks, 20);
  std::printf("200 kills: old content %d, new %d, partial temporaries %d, completed %d\n", old_seen, new_seen,
              temps_left, completed);
}

// Two threads saving different indexes to one path: every load sees one of them, complete.
TEST(IndexDurability, ConcurrentSavesInOneProcessNeverCorrupt) {
  const std::string dir = fresh_dir("threads"), p = dir + "/t.bri";
  auto make = [](size_t n) {
    retrieval::Index idx(16, retrieval::IndexOptions{}, "sha256:t", "/m.brm");
    std::vector<float> v(n * 16);
    std::vector<int64_t> ids(n);
    for (size_t i = 0; i < n; ++i) {
      ids[i] = int64_t(i);
      v[i * 16 + i % 16] = 1.0f;
    }
    idx.add(n, v.data(), ids.data(), nullptr, nullptr);
    return idx;
  };
  const retrieval::Index a = make(3000), b = make(5000);
  a.save(p);
  std::atomic<int> errors{0};
  std::atomic<bool> done{false};
  auto saver = [&](const retrieval::Index& x) {
    for (int i = 0; i < 15; ++i) try {
        x.save(p);
      } catch (const std::exception&) {
        ++errors;
      }
  };
  std::thread reader([&] {
    while (!done) {
      try {
        const size_t n = retrieval::Index::load(p).size();
        if (n != 3000 && n != 5000) ++errors;
      } catch (const std::exception&) {
        ++errors;
      }
    }
  });
  std::thread ta(saver, std::cref(a)), tb(saver, std::cref(b));
  ta.join();
  tb.join();
  done = true;
  reader.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_TRUE(temps_of(p).empty());
}

// ---- model files ----------------------------------------------------------------------------

namespace {
// Tiny model variant k with a large extra tensor so that writes take a while and overlap.
test::TinyModel variant(int k, size_t pad_floats) {
  test::TinyModel m;
  m.meta["source"]["name"] = "writer" + std::to_string(k);
  m.tensors["pad"] = {{uint64_t(pad_floats)}, std::vector<float>(pad_floats, float(k))};
  return m;
}

// Opens and validates the model at p (checksum included); returns the writer number.
int verify_model(const std::string& p) {
  const auto mf = model::ModelFile::open(p);
  const std::string name = mf.metadata()["source"]["name"];
  const int k = std::atoi(name.c_str() + 6);
  const auto* pad = mf.find("pad");
  if (!pad) throw std::runtime_error("no pad tensor");
  for (uint64_t i = 0; i < pad->numel; i += 4099)
    if (pad->data[i] != float(k)) throw std::runtime_error("content of two writers mixed");
  return k;
}
}  // namespace

// write_model_file's check runs on the complete temporary before it replaces the output; a
// failing check (convert's load-back) leaves the previous model in place and no temporary.
TEST(ModelDurability, FailedCheckLeavesThePreviousModel) {
  const std::string dir = fresh_dir("check"), out = dir + "/m.brm";
  variant(1, 1024).write(out);
  const auto before = slurp(out);
  const auto v = variant(2, 1024);
  std::vector<model::TensorToWrite> t;
  for (const auto& [name, x] : v.tensors) t.push_back({name, x.first, x.second.data()});
  std::string checked;
  EXPECT_THROW(model::write_model_file(out, v.meta, t,
                                       [&](const std::string& tmp) {
                                         checked = tmp;
                                         EXPECT_EQ(verify_model(tmp), 2);  // complete and valid already
                                         throw std::runtime_error("refused");
                                       }),
               std::runtime_error);
  EXPECT_EQ(checked.rfind(out + ".tmp-", 0), 0u) << checked;
  EXPECT_EQ(slurp(out), before);
  EXPECT_TRUE(temps_of(out).empty());
  model::write_model_file(out, v.meta, t, [](const std::string& tmp) { model::ModelFile::open(tmp); });
  EXPECT_EQ(verify_model(out), 2);
}

// Several processes writing different models to one output over and over: every open of the
// output finds a complete, valid model of one of the writers; no writer fails.
TEST(ModelDurability, ConcurrentWritersAlwaysLeaveAValidModel) {
  const std::string dir = fresh_dir("models"), out = dir + "/m.brm";
  const size_t pad = 1 << 19;  // 2 MiB
  variant(9, pad).write(out);
  std::vector<pid_t> pids;
  for (int k = 0; k < 3; ++k) {
    const pid_t pid = fork();
    if (pid == 0) {
      const auto m = variant(k, pad);
      try {
        for (int i = 0; i < 12; ++i) m.write(out);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "writer %d: %s\n", k, e.what());
        _exit(1);
      }
      _exit(0);
    }
    pids.push_back(pid);
  }
  int opens = 0, bad = 0;
  std::string first_error;
  std::vector<int> status(pids.size(), -1);
  for (size_t left = pids.size(); left > 0;) {
    try {
      verify_model(out);
    } catch (const std::exception& e) {
      if (!bad++) first_error = e.what();
    }
    ++opens;
    for (size_t i = 0; i < pids.size(); ++i) {
      int st = 0;
      if (status[i] < 0 && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
        status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        --left;
      }
    }
  }
  for (size_t i = 0; i < pids.size(); ++i) EXPECT_EQ(status[i], 0) << "writer " << i << " failed (see stderr)";
  std::printf("%d opens of the output while 3 writers wrote it 36 times\n", opens);
  EXPECT_EQ(bad, 0) << bad << " of " << opens << " opens failed, first: " << first_error;
  EXPECT_NO_THROW(verify_model(out));
  EXPECT_TRUE(temps_of(out).empty());
}

// Concurrent `bertrank convert` runs to one output: every run succeeds and the output is always
// a complete model that loads (the issue saw corrupt and deleted outputs).
TEST(ModelDurabilityCli, ConcurrentConvertsToOneOutput) {
  SKIP_WITHOUT_CLI();
  const std::string dir = fresh_dir("convert");
  fs::create_directories(dir + "/hf");
  test::write_tiny_hf_dir(dir + "/hf", test::TinyModel());
  const std::string out = dir + "/out.brm";
  std::string err;
  ASSERT_EQ(run_cli({"convert", dir + "/hf", "-o", out}, dir, &err), 0) << err;
  int failures = 0, bad_loads = 0;
  std::string first;
  for (int round = 0; round < 10; ++round) {
    std::vector<pid_t> pids;
    for (int p = 0; p < 4; ++p) {
      const std::string d = dir + "/c" + std::to_string(p);
      pids.push_back(spawn({"convert", dir + "/hf", "-o", out}, d + ".out", d + ".err"));
    }
    for (int p = 0; p < 4; ++p) {
      if (wait_for(pids[p]) != 0 && !failures++) first = slurp(dir + "/c" + std::to_string(p) + ".err");
    }
    try {
      model::ModelFile::open(out);
    } catch (const std::exception& e) {
      if (!bad_loads++) first += std::string(" / load: ") + e.what();
    }
  }
  EXPECT_EQ(failures, 0) << first;
  EXPECT_EQ(bad_loads, 0) << first;
  EXPECT_TRUE(temps_of(out).empty());
}

// atomic_file.h — the one atomic file writer used by every bertrank file format (.brm models,
// index files, and whatever comes next). Readers of the target see either the complete old file
// or the complete new one, never a mix, a truncated file or no file — also when the writer is
// killed at any instant or when several processes or threads save the same target at once.
//
// HOW A SAVE WORKS
//   1. Stale temporaries of the same target are removed (rule below).
//   2. A new temporary "<target>.tmp-<pid>-<6 random chars>" is created next to the target
//      (same directory, so the rename cannot cross file systems) with O_CREAT|O_EXCL: two writers
//      never share a temporary, whether they are processes or threads of one process. It is
//      created with mode 0666 minus the umask, like any new file.
//   3. The caller writes the content (write(), zeros(), and pwrite_at() to patch bytes already
//      written, e.g. a checksum in a header).
//   4. commit(): fsync the temporary, close it, rename() it over the target, fsync the directory.
//      rename() is atomic: concurrent savers of one target each install a complete file and the
//      last rename wins; nothing is ever half-replaced or deleted.
//   On any error a std::runtime_error names the path, the step and strerror(errno), and the
//   temporary is removed. If the writer is destroyed without commit() (an exception in the
//   caller) the temporary is removed too. The target is left untouched in both cases.
//
// STALE TEMPORARIES (a save killed by SIGKILL, OOM or power loss leaves its temporary behind)
//   Each save first scans the target's directory for names "<target>.tmp-<pid>" or
//   "<target>.tmp-<pid>-<suffix>" (the second is this writer's, the first the pre-0.3 index
//   writer's) and deletes one when
//     - no process <pid> exists on this machine (kill(pid, 0) fails with ESRCH), or
//     - it was last modified more than kStaleTempSeconds (24 h) ago (covers temporaries written
//       from another machine or PID namespace sharing the directory, and a reused pid).
//   A temporary whose pid is alive and that was modified in the last 24 h is left alone: it may
//   belong to a concurrent writer that is still writing. No other file is ever removed (not even
//   "<target>.tmp", the name of the pre-0.3 model writer, which a user might own).
//
// LIMITS
//   - Atomicity is per file: a save replaces one file. A symlink target is replaced by a regular
//     file (rename replaces the link, not what it points to).
//   - Concurrent savers are not serialised: the last rename wins. Read-modify-write updates need a
//     lock around load->modify->save as well (common/file_lock.h).
//   - "Dead" is judged by this machine's PID namespace. A writer on another machine or in another
//     container sharing the directory whose pid happens to be unused here could have its
//     temporary removed mid-save; its rename then fails with a clear error (ENOENT) and the target
//     keeps its previous content — never a corrupt file. Use one writer host per directory.
//
// TEST HOOK
//   BERTRANK_TEST_SAVE_EXIT_AFTER_BYTES=N (environment) makes the process _exit(86) once N bytes
//   of the temporary are written (the N bytes are on disk), simulating a crash mid-save. It is
//   read once per writer, at construction. Tests use it to kill a save at an exact byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bertrank {

constexpr int64_t kStaleTempSeconds = 24 * 60 * 60;
constexpr int kSaveTestExitCode = 86;

class AtomicFileWriter {
 public:
  // Removes stale temporaries of `target` and creates this writer's temporary. Throws
  // std::runtime_error naming the temporary and errno when it cannot be created (missing or
  // unwritable directory, ...).
  explicit AtomicFileWriter(const std::string& target);
  ~AtomicFileWriter();  // without commit(): closes and removes the temporary
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  // Appends n bytes (small writes are gathered in a 1 MiB buffer). Throws (and removes the
  // temporary) on a write error, e.g. ENOSPC.
  void write(const void* data, size_t n);
  void zeros(size_t n);
  // Overwrites n bytes at `offset`, which must lie inside what was already written.
  void pwrite_at(uint64_t offset, const void* data, size_t n);
  // fsync, close, rename over the target, fsync the directory. Throws on any failure; after a
  // failure before the rename the temporary is gone and the target unchanged. A failure of the
  // final directory fsync is reported too (the new file is then in place but may not be durable).
  void commit();

  const std::string& target() const { return target_; }
  const std::string& temp_path() const { return temp_; }
  uint64_t bytes_written() const { return written_; }  // appended so far (buffered or not)

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  void discard();
  void write_fd(const uint8_t* p, size_t n, int64_t offset = -1);
  void flush();

  static constexpr size_t kBufferBytes = size_t(1) << 20;  // small writes are gathered

  std::string target_, temp_;
  int fd_ = -1;
  std::vector<uint8_t> buf_;
  uint64_t written_ = 0;
  int64_t exit_after_ = -1;
  bool committed_ = false;
};

// Convenience: the whole content in one buffer.
void write_file_atomic(const std::string& target, const void* data, size_t n);

// Applies the stale-temporary rule above to `target`; returns how many files it removed.
// Called by AtomicFileWriter's constructor; exposed for tests and tools.
size_t remove_stale_temps(const std::string& target);

// True when `name` (a file name without directory) is a temporary of the target whose file name is
// `target_name`, in either form above; sets *pid.
bool parse_temp_name(const std::string& target_name, const std::string& name, long* pid);

}  // namespace bertrank

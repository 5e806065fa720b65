// file_lock.h — an exclusive advisory lock that serialises the writers of one file, so that
// read-modify-write updates (`bertrank index add` / `index remove`, and the server's updates) never
// lose each other's changes: the holder loads, modifies and saves; the next writer waits and then
// loads the holder's result.
//
// WHICH FILE IS LOCKED, AND WHY A SIDECAR
//   The lock is flock(LOCK_EX) on "<target>.lock", never on the target itself: every save replaces
//   the target by rename (common/atomic_file.h), i.e. by a new inode, so a lock held on the old
//   inode would not exclude a writer that opens the new one; and before the first save there is no
//   target to lock at all. The sidecar is created on first use (mode 0666 minus umask) and is never
//   deleted: unlinking a lock file while another process waits on it would let that process and a
//   newcomer (which creates a fresh file) both "hold" it. It is empty except for the holder's pid
//   (informational, for error messages). A lock file another user created and we cannot write is
//   opened read-only: flock works the same on it.
//
// WHY flock
//   flock locks belong to the open file description: two threads of one process that each take a
//   FileLock exclude each other (POSIX fcntl locks are per process, and closing any descriptor of
//   the file drops them). The kernel releases the lock when the holder exits or is killed, so a
//   crashed writer never leaves a lock behind. (A child forked while the lock is held shares it
//   until the child execs — the descriptor is O_CLOEXEC — or exits.) On Linux NFS, flock is emulated with byte-range
//   locks and still excludes across machines.
//
// Readers do not lock: thanks to the atomic save they always see a complete old or new file.
// The lock is advisory: only writers that use it are serialised.
#pragma once

#include <stdexcept>
#include <string>

namespace bertrank {

// Thrown by FileLock(target, Wait::no_wait) when another writer holds the lock.
class FileLockBusy : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class FileLock {
 public:
  enum class Wait { block, no_wait };

  // Locks "<target>.lock" exclusively. Wait::block waits as long as the holder needs;
  // Wait::no_wait throws FileLockBusy (naming the target, the lock file and the holder's pid when
  // known) if it is held. Other failures (cannot create the lock file) throw std::runtime_error
  // naming the lock file and errno.
  FileLock(const std::string& target, Wait wait);
  ~FileLock();  // releases
  FileLock(FileLock&& o) noexcept;
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const std::string& lock_path() const { return lock_path_; }
  static std::string lock_path_for(const std::string& target) { return target + ".lock"; }

 private:
  std::string lock_path_;
  int fd_ = -1;
};

}  // namespace bertrank

#include "common/file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace bertrank {

FileLock::FileLock(const std::string& target, Wait wait) : lock_path_(lock_path_for(target)) {
  fd_ = ::open(lock_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd_ < 0 && errno == EACCES) fd_ = ::open(lock_path_.c_str(), O_RDONLY | O_CLOEXEC);  // another user's
  if (fd_ < 0) {
    const int err = errno;
    throw std::runtime_error("cannot open the lock file '" + lock_path_ + "' for '" + target +
                             "': " + std::strerror(err));
  }
  const int op = LOCK_EX | (wait == Wait::no_wait ? LOCK_NB : 0);
  int rc;
  while ((rc = ::flock(fd_, op)) != 0 && errno == EINTR) {
  }
  if (rc != 0) {
    const int err = errno;
    std::string holder;
    if (err == EWOULDBLOCK) {
      char buf[32] = {};
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      if (n > 0) holder = std::string(buf, size_t(n));
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    }
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw FileLockBusy("'" + target + "' is locked by another writer" +
                         (holder.empty() ? std::string() : " (pid " + holder + ")") + "; lock file '" +
                         lock_path_ + "'");
    throw std::runtime_error("cannot lock '" + lock_path_ + "' for '" + target + "': " + std::strerror(err));
  }
  // Record the holder (informational; errors here do not matter).
  const std::string me = std::to_string(long(::getpid())) + "\n";
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, me.data(), me.size(), 0);
}

FileLock::FileLock(FileLock&& o) noexcept : lock_path_(std::move(o.lock_path_)), fd_(o.fd_) { o.fd_ = -1; }

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the flock
}

}  // namespace bertrank

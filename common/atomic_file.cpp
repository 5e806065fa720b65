#include "common/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <stdexcept>

namespace bertrank {

namespace {

void split_path(const std::string& target, std::string* dir, std::string* name) {
  const size_t slash = target.find_last_of('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *name = target;
  } else {
    *dir = slash == 0 ? "/" : target.substr(0, slash);
    *name = target.substr(slash + 1);
  }
}

std::string random_suffix() {
  static const char k[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  thread_local std::mt19937_64 rng(std::random_device{}() ^ (uint64_t(::getpid()) << 32) ^
                                   uint64_t(std::time(nullptr)));
  std::string s(6, 'x');
  for (auto& c : s) c = k[rng() % (sizeof k - 1)];
  return s;
}

bool pid_alive(long pid) {
  if (::kill(pid_t(pid), 0) == 0) return true;
  return errno != ESRCH;  // EPERM: it exists but belongs to someone else
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

bool parse_temp_name(const std::string& target_name, const std::string& name, long* pid) {
  const std::string prefix = target_name + ".tmp-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
  size_t i = prefix.size(), digits = 0;
  long v = 0;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') {
    if (++digits > 9) return false;  // pids fit in 9 digits (pid_max <= 2^22)
    v = v * 10 + (name[i] - '0');
    ++i;
  }
  if (digits == 0 || v <= 0) return false;  // never kill(0, ...) or a negative pid
  if (i != name.size()) {
    if (name[i] != '-' || name.size() - i - 1 != 6) return false;
    for (size_t j = i + 1; j < name.size(); ++j)
      if (!is_alnum(name[j])) return false;
  }
  *pid = v;
  return true;
}

size_t remove_stale_temps(const std::string& target) {
  std::string dir, name;
  split_path(target, &dir, &name);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;  // the create step reports a missing or unreadable directory
  size_t removed = 0;
  const time_t now = std::time(nullptr);
  while (const dirent* e = ::readdir(d)) {
    long pid = 0;
    if (!parse_temp_name(name, e->d_name, &pid)) continue;
    const std::string p = dir + "/" + e->d_name;
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    const bool old = now - st.st_mtime > kStaleTempSeconds;
    if ((old || !pid_alive(pid)) && ::unlink(p.c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

AtomicFileWriter::AtomicFileWriter(const std::string& target) : target_(target) {
  if (target.empty()) throw std::runtime_error("cannot save: empty file name");
  remove_stale_temps(target);
  if (const char* e = std::getenv("BERTRANK_TEST_SAVE_EXIT_AFTER_BYTES")) exit_after_ = std::atoll(e);
  const std::string base = target + ".tmp-" + std::to_string(long(::getpid())) + "-";
  for (int attempt = 0;; ++attempt) {
    temp_ = base + random_suffix();
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd_ >= 0) break;
    const int err = errno;
    if (err == EEXIST && attempt < 100) continue;
    throw std::runtime_error("cannot create a temporary file '" + temp_ + "' to save '" + target +
                             "': " + std::strerror(err));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) discard();
}

void AtomicFileWriter::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!temp_.empty()) ::unlink(temp_.c_str());
  temp_.clear();
  buf_.clear();
}

void AtomicFileWriter::fail(const std::string& what, int err) {
  const std::string msg = what + ": " + std::strerror(err);
  discard();
  throw std::runtime_error(msg);
}

// Writes all n bytes, at the file position (offset < 0) or at `offset` (pwrite).
void AtomicFileWriter::write_fd(const uint8_t* p, size_t n, int64_t offset) {
  while (n > 0) {
    const size_t c = std::min<size_t>(n, size_t(1) << 24);
    const ssize_t w = offset < 0 ? ::write(fd_, p, c) : ::pwrite(fd_, p, c, off_t(offset));
    if (w < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      fail("cannot write '" + temp_ + "' (saving '" + target_ + "')", err);
    }
    p += w;
    n -= size_t(w);
    if (offset >= 0) offset += w;
  }
}

void AtomicFileWriter::flush() {
  if (!buf_.empty()) write_fd(buf_.data(), buf_.size());
  buf_.clear();
}

void AtomicFileWriter::write(const void* data, size_t n) {
  if (fd_ < 0) throw std::runtime_error("write to '" + target_ + "' after commit or failure");
  const uint8_t* p = static_cast<const uint8_t*>(data);
  if (exit_after_ >= 0 && written_ + n > uint64_t(exit_after_)) {
    // Test hook: put exactly exit_after_ bytes on disk, then die as a killed process would.
    flush();
    write_fd(p, size_t(uint64_t(exit_after_) - written_));
    ::_exit(kSaveTestExitCode);
  }
  written_ += n;
  if (n >= kBufferBytes / 2) {  // large pieces go straight to the file
    flush();
    write_fd(p, n);
    return;
  }
  if (buf_.size() + n > kBufferBytes) flush();
  buf_.insert(buf_.end(), p, p + n);
}

void AtomicFileWriter::zeros(size_t n) {
  static const uint8_t z[4096] = {};
  while (n > 0) {
    const size_t c = std::min(n, sizeof z);
    write(z, c);
    n -= c;
  }
}

void AtomicFileWriter::pwrite_at(uint64_t offset, const void* data, size_t n) {
  if (fd_ < 0) throw std::runtime_error("write to '" + target_ + "' after commit or failure");
  if (offset > written_ || n > written_ - offset)
    throw std::runtime_error("pwrite_at past the written end of '" + temp_ + "'");
  flush();
  write_fd(static_cast<const uint8_t*>(data), n, int64_t(offset));
}

void AtomicFileWriter::commit() {
  if (fd_ < 0) throw std::runtime_error("commit of '" + target_ + "' after commit or failure");
  flush();
  if (::fsync(fd_) != 0) {
    const int err = errno;
    fail("cannot fsync '" + temp_ + "' (saving '" + target_ + "')", err);
  }
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int err = errno;
    fail("cannot close '" + temp_ + "' (saving '" + target_ + "')", err);
  }
  if (std::rename(temp_.c_str(), target_.c_str()) != 0) {
    const int err = errno;
    fail("cannot rename '" + temp_ + "' to '" + target_ + "'", err);
  }
  committed_ = true;
  std::string dir, name;
  split_path(target_, &dir, &name);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    const int err = errno;
    throw std::runtime_error("saved '" + target_ + "' but cannot open its directory to fsync it: " +
                             std::strerror(err));
  }
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  // EINVAL/ENOTSUP: the file system does not sync directories (nothing more can be done).
  if (rc != 0 && err != EINVAL && err != ENOTSUP)
    throw std::runtime_error("saved '" + target_ + "' but cannot fsync its directory '" + dir +
                             "': " + std::strerror(err));
}

void write_file_atomic(const std::string& target, const void* data, size_t n) {
  AtomicFileWriter w(target);
  w.write(data, n);
  w.commit();
}

}  // namespace bertrank

// Helpers shared by the libFuzzer targets: a per-process scratch directory (on /dev/shm when it
// exists: the loaders take paths, so each input is written to a file first) and FUZZ_CHECK,
// which reports a broken invariant as a crash so that libFuzzer records the input.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace bertrank::fuzz {

inline const std::string& scratch_dir() {
  // Never destroyed: the atexit handler below runs after static destructors.
  static const std::string* dir = [] {
    namespace fs = std::filesystem;
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    const fs::path d = base / ("bertrank_fuzz_" + std::to_string(::getpid()));
    fs::create_directories(d);
    // Removed at exit; a crashed run leaves it behind (named by pid).
    std::atexit([] { std::error_code ec; std::filesystem::remove_all(scratch_dir(), ec); });
    return new std::string(d.string());
  }();
  return *dir;
}

// Writes the bytes to <scratch>/<name> and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string p = scratch_dir() + "/" + name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", p.c_str());
    std::abort();
  }
  return p;
}

[[noreturn]] inline void check_failed(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s%s%s\n", file, line, expr, msg.empty() ? "" : " -- ",
               msg.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

}  // namespace bertrank::fuzz

#define FUZZ_CHECK(cond, msg)                                                        \
  do {                                                                               \
    if (!(cond)) ::bertrank::fuzz::check_failed(#cond, __FILE__, __LINE__, (msg));    \
  } while (0)

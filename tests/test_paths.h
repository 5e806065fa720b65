// Paths of fixtures, weights and shared data for tests. BERTRANK_SHARED_DATA overrides where
// ../shared/data is looked for (default: <source>/../shared/data).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>

namespace bertrank::test {

inline std::string source_dir() { return BERTRANK_SOURCE_DIR; }
inline std::string golden_dir() { return source_dir() + "/tests/golden"; }
inline std::string weights_dir() { return source_dir() + "/weights"; }
inline std::string shared_data_dir() {
  if (const char* e = std::getenv("BERTRANK_SHARED_DATA")) return e;
  return source_dir() + "/../shared/data";
}
inline bool exists(const std::string& p) { return std::filesystem::exists(p); }

}  // namespace bertrank::test

// Regression cases for what the fuzz targets (tests/fuzz/) found, as plain unit tests so that
// the GCC suite checks them too. Each names its input in tests/fuzz/regressions/.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "retrieval/docs_io.h"
#include "retrieval/metrics.h"

namespace {

std::string write_tmp(const std::string& name, const std::string& bytes) {
  const auto dir = std::filesystem::temp_directory_path() / ("bertrank_fuzz_regr_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string p = (dir / name).string();
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

// Expects std::runtime_error whose message names `where`.
template <class F>
void expect_error_naming(F&& f, const std::string& where) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming " << where;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a std::runtime_error naming " << where << ": " << e.what();
  }
}

// regressions/docs/jsonl_number_overflow(_found): a number beyond double range made nlohmann
// throw out_of_range.406 past the reader (only parse_error was caught), naming no file or line.
TEST(FuzzRegressions, JsonlNumberOverflowIsAnErrorNamingTheLine) {
  const std::string p = write_tmp("overflow.jsonl", "{\"id\": 0, \"text\": \"ok\"}\n{\"id\": 1, \"text\": \"a\", \"x\": 1e999}\n");
  expect_error_naming([&] { (void)bertrank::retrieval::read_jsonl_documents(p); }, p + ":2");
  expect_error_naming([&] { (void)bertrank::retrieval::read_documents(p); }, p + ":2");
  const std::string q = write_tmp("overflow_queries.jsonl", "8.232e313(\n");
  expect_error_naming([&] { (void)bertrank::retrieval::read_queries(q); }, q + ":1");
}

}  // namespace

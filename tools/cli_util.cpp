#include "tools/cli_util.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace bertrank::cli {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream file;
  if (!path.empty() && path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw std::runtime_error("cannot open '" + path + "'");
  }
  std::istream& in = file.is_open() ? file : std::cin;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw std::runtime_error("error reading '" + (path.empty() ? std::string("stdin") : path) + "'");
  return lines;
}

bertrank_precision parse_precision(const std::string& s) {
  if (s == "fp32") return BERTRANK_PRECISION_FP32;
  if (s == "int8") return BERTRANK_PRECISION_INT8;
  if (s == "bf16") return BERTRANK_PRECISION_BF16;
  throw std::invalid_argument("precision '" + s + "' is not one of fp32, int8, bf16");
}

bertrank_activation parse_activation(const std::string& s) {
  if (s == "none") return BERTRANK_ACTIVATION_NONE;
  if (s == "sigmoid") return BERTRANK_ACTIVATION_SIGMOID;
  if (s == "softmax") return BERTRANK_ACTIVATION_SOFTMAX;
  throw std::invalid_argument("activation '" + s + "' is not one of none, sigmoid, softmax");
}

bertrank_search_mode parse_mode(const std::string& s) {
  if (s == "dense") return BERTRANK_SEARCH_DENSE;
  if (s == "bm25") return BERTRANK_SEARCH_BM25;
  if (s == "hybrid") return BERTRANK_SEARCH_HYBRID;
  throw std::invalid_argument("mode '" + s + "' is not one of dense, bm25, hybrid");
}

void add_threads_option(CLI::App* cmd, int& threads) {
  const int cap = bertrank_max_threads();
  cmd->add_option("-t,--threads", threads,
                  "Threads (default: all CPUs; OMP_NUM_THREADS also works; capped at the " + std::to_string(cap) +
                      " CPUs)")
      ->check(CLI::NonNegativeNumber)
      ->each([cap](const std::string& v) {
        char* end = nullptr;
        const double n = std::strtod(v.c_str(), &end);
        if (n > cap)
          std::fprintf(stderr, "warning: --threads %s is more than the %d CPUs of this machine; using %d\n", v.c_str(),
                       cap, cap);
      });
}

void add_precision_option(CLI::App* cmd, std::string& precision) {
  cmd->add_option("--precision", precision, "Weights of the linear layers: fp32 (default), int8 or bf16")
      ->check(CLI::IsMember({"fp32", "int8", "bf16"}));
}

Model load_model(const std::string& path, const std::string& precision) {
  bertrank_model_params p = bertrank_model_default_params();
  p.precision = parse_precision(precision);
  return Model(path, p);
}

Model load_index_model(const bertrank_index* index, const std::string& model_arg, const std::string& precision) {
  const char* recorded = bertrank_index_model_path(index);
  const std::string path = model_arg.empty() ? std::string(recorded ? recorded : "") : model_arg;
  if (model_arg.empty() && !std::filesystem::exists(path))
    throw std::runtime_error("the model recorded in the index ('" + path +
                             "') was not found; pass its new location with -m");
  return load_model(path, precision);
}

}  // namespace bertrank::cli

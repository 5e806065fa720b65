// Helpers shared by the `bertrank` subcommands. The CLI uses only the public API
// (include/bertrank/bertrank.hpp) and retrieval/ (document, query and qrels readers, metrics);
// C API failures arrive as bertrank::Error exceptions, which main() prints.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bertrank/bertrank.hpp"

namespace bertrank::cli {

// Lines of a file ("" or "-": standard input), without "\n" / "\r\n".
std::vector<std::string> read_lines(const std::string& path);

bertrank_precision parse_precision(const std::string& s);    // fp32 | int8 | bf16
bertrank_activation parse_activation(const std::string& s);  // none | sigmoid | softmax
bertrank_search_mode parse_mode(const std::string& s);       // dense | bm25 | hybrid

// -t/--threads and --precision, added the same way to every command that runs a model.
void add_threads_option(CLI::App* cmd, int& threads);
void add_precision_option(CLI::App* cmd, std::string& precision);

Model load_model(const std::string& path, const std::string& precision);
// The bi-encoder an index was built with: `model_arg` when given (its fingerprint must match,
// checked at search time), else the path recorded in the index.
Model load_index_model(const bertrank_index* index, const std::string& model_arg, const std::string& precision);

}  // namespace bertrank::cli

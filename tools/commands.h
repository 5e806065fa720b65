// Each `bertrank` subcommand lives in its own tools/cmd_<name>.cpp and registers itself here.
#pragma once
#include <CLI/CLI.hpp>

namespace bertrank::cli {
void add_tokenize_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_embed_command(CLI::App& app);
void add_index_command(CLI::App& app);
void add_search_command(CLI::App& app);
void add_rerank_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_serve_command(CLI::App& app);
}  // namespace bertrank::cli

// bertrank — one binary, many subcommands (CLI11). Errors go to stderr with exit status 1.
#include <cstdio>
#include <exception>

#include "bertrank/bertrank.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"bertrank: CPU engine for BERT bi-encoders, cross-encoders and retrieval"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("bertrank ") + bertrank_version());
  bertrank::cli::add_tokenize_command(app);
  bertrank::cli::add_info_command(app);
  bertrank::cli::add_convert_command(app);
  bertrank::cli::add_embed_command(app);
  bertrank::cli::add_index_command(app);
  bertrank::cli::add_search_command(app);
  bertrank::cli::add_rerank_command(app);
  bertrank::cli::add_eval_command(app);
  bertrank::cli::add_serve_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bertrank: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

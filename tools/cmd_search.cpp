// `bertrank search -i <index> -q "..." [-k 10] [--mode dense|bm25|hybrid] [--nprobe N]
//                  [--rerank <cross-encoder .brm> --candidates N]`:
// first-stage retrieval from an index, then (with --rerank) the cross-encoder on the top N
// (api/pipeline.h); one JSON line per hit {"id","score","first_stage_score","text"
// [,"meta"]}, best first. The model comes from the index unless -m says where it moved (its fingerprint
// must match). --queries FILE runs one query per line; each hit then also carries "query"
// (the line number, from 0).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

namespace {
struct SearchArgs {
  std::string index, model, queries_file, mode = "dense", rerank, activation = "none", precision = "fp32";
  size_t candidates = 50;
  std::vector<std::string> queries;
  size_t k = 10, nprobe = 0, rescore_factor = 0;
  bool mmap = false, timings = false;
  int threads = 0;
};
double secs(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
}  // namespace

void add_search_command(CLI::App& app) {
  auto a = std::make_shared<SearchArgs>();
  auto* cmd = app.add_subcommand("search", "Search an index (dense, BM25 or hybrid)");
  cmd->add_option("-i,--index", a->index, "Index file")->required();
  auto* q = cmd->add_option("-q,--query", a->queries, "Query text (repeatable)");
  auto* qf = cmd->add_option("--queries", a->queries_file, "File with one query per line");
  q->excludes(qf);
  cmd->add_option("-k,--top-k", a->k, "Hits per query (default 10; more than the index holds gives all of them)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--mode", a->mode, "dense (bi-encoder), bm25, or hybrid (reciprocal rank fusion)")
      ->check(CLI::IsMember({"dense", "bm25", "hybrid"}));
  cmd->add_option("--nprobe", a->nprobe, "IVF lists to visit (default: the index's)");
  cmd->add_option("--rescore-factor", a->rescore_factor, "int8: re-score the best k*F exactly (default 8)");
  cmd->add_option("-m,--model", a->model, "Model file, if it moved since the index was built");
  cmd->add_option("--rerank", a->rerank, "Cross-encoder model (.brm) to rerank the first stage's top candidates");
  auto* cand = cmd->add_option("--candidates", a->candidates, "First-stage hits to rerank (default 50; > 0; needs --rerank)")
                   ->check(CLI::PositiveNumber);
  cmd->add_option("--activation", a->activation, "Cross-encoder score: none (raw logits), sigmoid, softmax")
      ->check(CLI::IsMember({"none", "sigmoid", "softmax"}));
  add_threads_option(cmd, a->threads);
  add_precision_option(cmd, a->precision);
  cmd->add_flag("--mmap", a->mmap, "Map the index instead of reading it into memory");
  cmd->add_flag("--timings", a->timings, "Print the time of each stage to stderr");
  cmd->callback([a, cand] {
    if (cand->count() > 0 && a->rerank.empty())
      throw std::invalid_argument("--candidates needs --rerank (the cross-encoder that reranks them)");
    using clk = std::chrono::steady_clock;
    std::vector<std::string> queries = a->queries;
    if (!a->queries_file.empty())
      for (auto& line : read_lines(a->queries_file)) queries.push_back(std::move(line));
    if (queries.empty()) throw std::runtime_error("no query given (-q TEXT or --queries FILE)");
    const auto t0 = clk::now();
    const Index idx = Index::load(a->index, a->mmap);
    const auto t1 = clk::now();
    const size_t n = queries.size();
    bertrank_search_params sp = bertrank_search_default_params();
    sp.mode = parse_mode(a->mode);
    sp.k = a->k;
    sp.nprobe = a->nprobe;
    sp.rescore_factor = a->rescore_factor;
    sp.rerank.activation = parse_activation(a->activation);
    sp.rerank.num_threads = a->threads;
    sp.num_threads = a->threads;
    const auto m0 = clk::now();
    Model enc, ce;
    if (sp.mode != BERTRANK_SEARCH_BM25) enc = load_index_model(idx.get(), a->model, a->precision);
    if (!a->rerank.empty()) {
      ce = load_model(a->rerank, a->precision);
      sp.candidates = a->candidates;  // > 0 (checked); capped at the index size by the pipeline
    }
    const double t_model = secs(m0, clk::now());
    bertrank_timings pt{};
    const auto results = idx.search(queries, enc.get() ? &enc : nullptr, ce.get() ? &ce : nullptr, sp, &pt);
    for (size_t i = 0; i < n; ++i)
      for (const Hit& hit : results[i]) {
        nlohmann::json h;
        if (n > 1 || !a->queries_file.empty()) h["query"] = i;
        h["id"] = hit.id;
        h["score"] = hit.score;
        h["first_stage_score"] = hit.first_stage_score;
        const char *text = nullptr, *meta = nullptr;
        size_t text_len = 0;
        if (bertrank_index_document(idx.get(), hit.id, &text, &text_len, &meta) == BERTRANK_OK) {
          h["text"] = std::string(text, text_len);
          if (meta && *meta) h["meta"] = nlohmann::json::parse(meta);
        }
        std::cout << h.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";  // never throws on stored bytes
      }
    std::cout.flush();
    if (a->timings)
      std::fprintf(stderr,
                   "timings: load_index %.1f ms, load_models %.1f ms, embed_queries %.1f ms, search %.2f ms, "
                   "rerank %.1f ms (%zu queries, mode %s%s)\n",
                   1e3 * secs(t0, t1), 1e3 * t_model, 1e3 * pt.embed_seconds, 1e3 * pt.search_seconds,
                   1e3 * pt.rerank_seconds, n, a->mode.c_str(),
                   ce.get() ? (", rerank of top " + std::to_string(sp.candidates)).c_str() : "");
  });
}

}  // namespace bertrank::cli

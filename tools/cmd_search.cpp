// `bertrank search -i <index> -q "..." [-k 10] [--mode dense|bm25|hybrid] [--nprobe N]`:
// first-stage retrieval from an index; one JSON line per hit {"id","score","text"[,"meta"]},
// best first. The model comes from the index unless -m says where it moved (its fingerprint
// must match). --queries FILE runs one query per line; each hit then also carries "query"
// (the line number, from 0).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/model.h"
#include "retrieval/index.h"
#include "tools/commands.h"

namespace bertrank::cli {

std::shared_ptr<const model::Model> load_index_model(const retrieval::Index& idx, const std::string& model_arg);

namespace {
struct SearchArgs {
  std::string index, model, queries_file, mode = "dense";
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
  cmd->add_option("-k,--top-k", a->k, "Hits per query (default 10)");
  cmd->add_option("--mode", a->mode, "dense (bi-encoder), bm25, or hybrid (reciprocal rank fusion)")
      ->check(CLI::IsMember({"dense", "bm25", "hybrid"}));
  cmd->add_option("--nprobe", a->nprobe, "IVF lists to visit (default: the index's)");
  cmd->add_option("--rescore-factor", a->rescore_factor, "int8: re-score the best k*F exactly (default 8)");
  cmd->add_option("-m,--model", a->model, "Model file, if it moved since the index was built");
  cmd->add_flag("--mmap", a->mmap, "Map the index instead of reading it into memory");
  cmd->add_flag("--timings", a->timings, "Print the time of each stage to stderr");
  cmd->callback([a] {
    using clk = std::chrono::steady_clock;
    std::vector<std::string> queries = a->queries;
    if (!a->queries_file.empty()) {
      std::ifstream in(a->queries_file, std::ios::binary);
      if (!in) throw std::runtime_error("cannot open '" + a->queries_file + "'");
      for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        queries.push_back(line);
      }
    }
    if (queries.empty()) throw std::runtime_error("no query given (-q TEXT or --queries FILE)");
    const auto t0 = clk::now();
    retrieval::LoadOptions lo;
    lo.mmap = a->mmap;
    auto idx = retrieval::Index::load(a->index, lo);
    const auto t1 = clk::now();
    const size_t n = queries.size(), k = a->k;
    std::vector<float> scores(n * k);
    std::vector<int64_t> ids(n * k);
    retrieval::SearchParams sp;
    sp.nprobe = a->nprobe;
    sp.rescore_factor = a->rescore_factor;
    double t_model = 0, t_embed = 0;
    std::vector<float> qv;
    if (a->mode != "bm25") {
      const auto m0 = clk::now();
      auto m = load_index_model(idx, a->model);
      const auto m1 = clk::now();
      model::BiEncoder enc(m);
      qv.resize(n * (size_t)enc.dim());
      enc.embed(queries, qv.data());
      t_model = secs(m0, m1);
      t_embed = secs(m1, clk::now());
    }
    const auto s0 = clk::now();
    if (a->mode == "dense")
      idx.search_dense(n, qv.data(), k, scores.data(), ids.data(), sp);
    else if (a->mode == "bm25")
      idx.search_bm25(n, queries.data(), k, scores.data(), ids.data());
    else
      idx.search_hybrid(n, qv.data(), queries.data(), k, scores.data(), ids.data(), sp);
    const auto s1 = clk::now();
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < k; ++j) {
        const int64_t id = ids[i * k + j];
        if (id < 0) break;
        nlohmann::json h;
        if (n > 1 || !a->queries_file.empty()) h["query"] = i;
        h["id"] = id;
        h["score"] = scores[i * k + j];
        if (const auto* d = idx.doc(id)) {
          h["text"] = d->text;
          if (!d->meta.empty()) h["meta"] = nlohmann::json::parse(d->meta);
        }
        std::cout << h.dump() << "\n";
      }
    std::cout.flush();
    if (a->timings)
      std::fprintf(stderr,
                   "timings: load_index %.1f ms, load_model %.1f ms, embed_queries %.1f ms, search %.2f ms "
                   "(%zu queries, mode %s)\n",
                   1e3 * secs(t0, t1), 1e3 * t_model, 1e3 * t_embed, 1e3 * secs(s0, s1), n, a->mode.c_str());
  });
}

}  // namespace bertrank::cli

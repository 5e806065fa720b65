#include "api/pipeline.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <stdexcept>

#include "common/checked_size.h"

namespace bertrank::retrieval {

FirstStage parse_first_stage(const std::string& s) {
  if (s == "dense") return FirstStage::dense;
  if (s == "bm25") return FirstStage::bm25;
  if (s == "hybrid") return FirstStage::hybrid;
  throw std::invalid_argument("first stage '" + s + "' is not one of dense, bm25, hybrid");
}

std::vector<std::vector<PipelineHit>> run_pipeline(const Index& index, const model::BiEncoder* encoder,
                                                   const model::CrossEncoder* ce,
                                                   const std::vector<std::string>& queries,
                                                   const PipelineOptions& opt, PipelineTimings* timings) {
  using clk = std::chrono::steady_clock;
  auto secs = [](clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  if (opt.mode != FirstStage::bm25 && !encoder)
    throw std::invalid_argument("dense and hybrid retrieval need the bi-encoder model");
  if (opt.candidates > 0 && !ce) throw std::invalid_argument("reranking needs a cross-encoder model");
  if (opt.k == 0) throw std::invalid_argument("k must be > 0");
  // No query can have more hits than the index has documents: k and candidates beyond that
  // change nothing, and capping them bounds memory by the index, not by the request.
  const size_t n = queries.size(), depth = std::min(std::max(opt.k, opt.candidates), index.size());
  PipelineTimings t;
  std::vector<float> qv;
  auto t0 = clk::now();
  if (opt.mode != FirstStage::bm25) {
    qv.resize(size_mul(n, size_t(encoder->dim()), "queries * dim"));
    encoder->embed(queries, qv.data());
  }
  auto t1 = clk::now();
  t.embed_seconds = secs(t0, t1);
  std::vector<float> scores(size_mul(n, depth, "queries * depth"));
  std::vector<int64_t> ids(scores.size());
  if (depth > 0) {
    switch (opt.mode) {
      case FirstStage::dense: index.search_dense(n, qv.data(), depth, scores.data(), ids.data(), opt.search); break;
      case FirstStage::bm25: index.search_bm25(n, queries.data(), depth, scores.data(), ids.data()); break;
      case FirstStage::hybrid:
        index.search_hybrid(n, qv.data(), queries.data(), depth, scores.data(), ids.data(), opt.search);
        break;
    }
  }
  auto t2 = clk::now();
  t.search_seconds = secs(t1, t2);
  std::vector<std::vector<PipelineHit>> out(n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < depth && ids[i * depth + j] >= 0; ++j) {
      PipelineHit h;
      h.id = ids[i * depth + j];
      h.score = h.first_stage_score = scores[i * depth + j];
      out[i].push_back(h);
    }
    const size_t nc = std::min(opt.candidates, out[i].size());
    if (nc > 0) {
      std::vector<std::string> docs(nc);
      for (size_t j = 0; j < nc; ++j) {
        const Document* d = index.doc(out[i][j].id);
        if (!d) throw std::runtime_error("index has no stored text for id " + std::to_string(out[i][j].id) +
                                         ": cannot rerank it");
        docs[j] = d->text;
      }
      const bool windows = opt.rerank.window_length > 0;
      std::vector<float> s(nc * size_t(windows ? 1 : ce->num_labels()));
      ce->score(queries[i], docs, s.data(), nullptr, opt.rerank);
      const size_t stride = windows ? 1 : size_t(ce->num_labels());
      for (size_t j = 0; j < nc; ++j) {
        out[i][j].score = s[j * stride];  // the first label orders the candidates
        out[i][j].reranked = true;
      }
      // Stable: equal scores keep their first-stage order.
      std::stable_sort(out[i].begin(), out[i].begin() + std::ptrdiff_t(nc),
                       [](const PipelineHit& a, const PipelineHit& b) { return a.score > b.score; });
    }
    if (out[i].size() > opt.k) out[i].resize(opt.k);
  }
  t.rerank_seconds = secs(t2, clk::now());
  if (timings) *timings = t;
  return out;
}

}  // namespace bertrank::retrieval

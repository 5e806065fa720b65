#include "api/pipeline.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "common/checked_size.h"

namespace bertrank::retrieval {

FirstStage parse_first_stage(const std::string& s) {
  if (s == "dense") return FirstStage::dense;
  if (s == "bm25") return FirstStage::bm25;
  if (s == "hybrid") return FirstStage::hybrid;
  throw std::invalid_argument("first stage '" + s + "' is not one of dense, bm25, hybrid");
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

using HitLists = std::vector<std::vector<PipelineHit>>;       // [query] best first
using PairScores = std::vector<std::unordered_map<int64_t, float>>;  // [query] id -> cross-encoder score

void check_options(const PipelineOptions& opt, const model::BiEncoder* encoder, const model::CrossEncoder* ce) {
  if (opt.mode != FirstStage::bm25 && !encoder)
    throw std::invalid_argument("dense and hybrid retrieval need the bi-encoder model");
  if (opt.candidates > 0 && !ce) throw std::invalid_argument("reranking needs a cross-encoder model");
  if (opt.k == 0) throw std::invalid_argument("k must be > 0");
}

// No query can have more hits than the index has documents: k and candidates beyond that
// change nothing, and capping them bounds memory by the index, not by the request.
size_t first_stage_depth(const Index& index, const PipelineOptions& opt) {
  return std::min(std::max(opt.k, opt.candidates), index.size());
}

// Runs that get the same first-stage lists (every SearchParams field changes results).
bool same_first_stage(const Index& index, const PipelineOptions& a, const PipelineOptions& b) {
  static_assert(sizeof(SearchParams) == 2 * sizeof(size_t), "a new SearchParams field: compare it here");
  return a.mode == b.mode && a.search.nprobe == b.search.nprobe &&
         a.search.rescore_factor == b.search.rescore_factor && first_stage_depth(index, a) == first_stage_depth(index, b);
}

// Runs whose cross-encoder gives the same scores (num_threads and max_batch_tokens never change them).
bool same_rerank(const model::ScoreOptions& a, const model::ScoreOptions& b) {
  static_assert(sizeof(model::ScoreOptions) == 6 * sizeof(int), "a new ScoreOptions field: compare it here");
  return a.max_length == b.max_length && a.activation == b.activation && a.window_length == b.window_length &&
         a.window_stride == b.window_stride;
}

std::vector<float> embed_queries(const model::BiEncoder& encoder, const std::vector<std::string>& queries) {
  std::vector<float> qv(size_mul(queries.size(), size_t(encoder.dim()), "queries * dim"));
  encoder.embed(queries, qv.data());
  return qv;
}

// Stage 1: up to `depth` hits per query, best first. query_vectors: the queries embedded (dense, hybrid).
HitLists search_first_stage(const Index& index, const PipelineOptions& opt, size_t depth,
                            const std::vector<std::string>& queries, const float* query_vectors) {
  const size_t n = queries.size();
  std::vector<float> scores(size_mul(n, depth, "queries * depth"));
  std::vector<int64_t> ids(scores.size());
  if (depth > 0) {
    switch (opt.mode) {
      case FirstStage::dense:
        index.search_dense(n, query_vectors, depth, scores.data(), ids.data(), opt.search);
        break;
      case FirstStage::bm25: index.search_bm25(n, queries.data(), depth, scores.data(), ids.data()); break;
      case FirstStage::hybrid:
        index.search_hybrid(n, query_vectors, queries.data(), depth, scores.data(), ids.data(), opt.search);
        break;
    }
  }
  HitLists out(n);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < depth && ids[i * depth + j] >= 0; ++j) {
      PipelineHit h;
      h.id = ids[i * depth + j];
      h.score = h.first_stage_score = scores[i * depth + j];
      out[i].push_back(h);
    }
  return out;
}

// What one rerank option set must score: the top `candidates` of each query's list in `lists`.
struct CandidateRequest {
  const HitLists* lists;
  size_t candidates;
};

// Stage 2: scores each (query, document) pair the requests name and `scores` lacks, with one
// cross-encoder call per query (memory bounded by one query's candidates).
void score_candidates(const Index& index, const model::CrossEncoder& ce, const std::vector<std::string>& queries,
                      const std::vector<CandidateRequest>& requests, const model::ScoreOptions& opt,
                      PairScores& scores) {
  const size_t stride = opt.window_length > 0 ? 1 : size_t(ce.num_labels());
  for (size_t i = 0; i < queries.size(); ++i) {
    std::vector<int64_t> ids;
    std::unordered_set<int64_t> asked;
    std::vector<std::string> docs;
    for (const CandidateRequest& req : requests) {
      const std::vector<PipelineHit>& hits = (*req.lists)[i];
      for (size_t j = 0; j < std::min(req.candidates, hits.size()); ++j) {
        const int64_t id = hits[j].id;
        if (scores[i].count(id) || !asked.insert(id).second) continue;
        const Document* d = index.doc(id);
        if (!d) throw std::runtime_error("index has no stored text for id " + std::to_string(id) + ": cannot rerank it");
        ids.push_back(id);
        docs.push_back(d->text);
      }
    }
    if (ids.empty()) continue;
    std::vector<float> s(ids.size() * stride);
    ce.score(queries[i], docs, s.data(), nullptr, opt);
    for (size_t j = 0; j < ids.size(); ++j) scores[i].emplace(ids[j], s[j * stride]);  // the first label orders
  }
}

// The final list: the top `candidates` first-stage hits ordered by their cross-encoder scores
// (stable: equal scores keep their first-stage order), then the rest of the first stage, cut to k.
std::vector<PipelineHit> merge_reranked(std::vector<PipelineHit> hits, const std::unordered_map<int64_t, float>* scores,
                                        size_t candidates, size_t k) {
  const size_t nc = std::min(candidates, hits.size());
  if (nc > 0) {
    for (size_t j = 0; j < nc; ++j) {
      hits[j].score = scores->at(hits[j].id);
      hits[j].reranked = true;
    }
    std::stable_sort(hits.begin(), hits.begin() + std::ptrdiff_t(nc),
                     [](const PipelineHit& a, const PipelineHit& b) { return a.score > b.score; });
  }
  if (hits.size() > k) hits.resize(k);
  return hits;
}

// Index of the first element of `groups` that `same(groups[g], x)`, appending x if none is.
template <typename T, typename Same>
size_t group_of(std::vector<T>& groups, const T& x, Same same) {
  for (size_t g = 0; g < groups.size(); ++g)
    if (same(groups[g], x)) return g;
  groups.push_back(x);
  return groups.size() - 1;
}

// The work runs share: run r searches with stages[stage_of[r]] and, when it reranks, scores
// with reranks[rerank_of[r]].
struct SharedWork {
  std::vector<PipelineOptions> stages;
  std::vector<size_t> stage_of;
  std::vector<model::ScoreOptions> reranks;
  std::vector<size_t> rerank_of;
};

SharedWork share_work(const Index& index, const std::vector<PipelineOptions>& runs) {
  SharedWork w;
  w.stage_of.resize(runs.size());
  w.rerank_of.resize(runs.size());
  for (size_t r = 0; r < runs.size(); ++r) {
    w.stage_of[r] = group_of(w.stages, runs[r], [&](const PipelineOptions& a, const PipelineOptions& b) {
      return same_first_stage(index, a, b);
    });
    if (runs[r].candidates > 0) w.rerank_of[r] = group_of(w.reranks, runs[r].rerank, same_rerank);
  }
  return w;
}

// Per rerank option set, the scores of every pair some run with it reranks: of each first
// stage, the most candidates any of its runs reranks.
std::vector<PairScores> score_reranked_pairs(const Index& index, const model::CrossEncoder& ce,
                                             const std::vector<std::string>& queries,
                                             const std::vector<PipelineOptions>& runs, const SharedWork& w,
                                             const std::vector<HitLists>& lists) {
  std::vector<PairScores> scores(w.reranks.size(), PairScores(queries.size()));
  for (size_t g = 0; g < w.reranks.size(); ++g) {
    std::vector<CandidateRequest> requests;
    for (size_t s = 0; s < w.stages.size(); ++s) {
      size_t most = 0;
      for (size_t r = 0; r < runs.size(); ++r)
        if (runs[r].candidates > 0 && w.rerank_of[r] == g && w.stage_of[r] == s)
          most = std::max(most, runs[r].candidates);
      if (most > 0) requests.push_back({&lists[s], most});
    }
    score_candidates(index, ce, queries, requests, w.reranks[g], scores[g]);
  }
  return scores;
}

}  // namespace

std::vector<std::vector<std::vector<PipelineHit>>> run_pipelines(const Index& index, const model::BiEncoder* encoder,
                                                                 const model::CrossEncoder* ce,
                                                                 const std::vector<std::string>& queries,
                                                                 const std::vector<PipelineOptions>& runs,
                                                                 PipelineTimings* timings) {
  for (const PipelineOptions& opt : runs) check_options(opt, encoder, ce);
  const SharedWork w = share_work(index, runs);
  PipelineTimings t;

  auto t0 = Clock::now();
  std::vector<float> qv;
  if (std::any_of(runs.begin(), runs.end(), [](const PipelineOptions& o) { return o.mode != FirstStage::bm25; }))
    qv = embed_queries(*encoder, queries);
  t.embed_seconds = seconds_since(t0);

  t0 = Clock::now();
  std::vector<HitLists> lists;
  for (const PipelineOptions& s : w.stages)
    lists.push_back(search_first_stage(index, s, first_stage_depth(index, s), queries, qv.data()));
  t.search_seconds = seconds_since(t0);

  t0 = Clock::now();
  const std::vector<PairScores> scores =
      w.reranks.empty() ? std::vector<PairScores>{} : score_reranked_pairs(index, *ce, queries, runs, w, lists);
  std::vector<std::vector<std::vector<PipelineHit>>> out(runs.size(), HitLists(queries.size()));
  for (size_t r = 0; r < runs.size(); ++r)
    for (size_t i = 0; i < queries.size(); ++i)
      out[r][i] = merge_reranked(lists[w.stage_of[r]][i], runs[r].candidates > 0 ? &scores[w.rerank_of[r]][i] : nullptr,
                                 runs[r].candidates, runs[r].k);
  t.rerank_seconds = seconds_since(t0);
  if (timings) *timings = t;
  return out;
}

std::vector<std::vector<PipelineHit>> run_pipeline(const Index& index, const model::BiEncoder* encoder,
                                                   const model::CrossEncoder* ce,
                                                   const std::vector<std::string>& queries,
                                                   const PipelineOptions& opt, PipelineTimings* timings) {
  return std::move(run_pipelines(index, encoder, ce, queries, {opt}, timings)[0]);
}

}  // namespace bertrank::retrieval

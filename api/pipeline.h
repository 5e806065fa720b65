// pipeline.h — retrieve, then rerank: the two stages of bertrank's search. It sits above
// retrieval/ and model/ (it orchestrates both), beside the C API that exposes it.
//
//   stage 1: the index's first stage for every query (dense bi-encoder, BM25, or their
//            reciprocal-rank fusion), `depth` = max(k, candidates) hits per query;
//   stage 2: (optional) the cross-encoder scores "[CLS] query [SEP] document [SEP]" for the
//            top `candidates` hits of each query and reorders them by that score.
// The final list of a query is the reranked candidates followed by the rest of the first
// stage in its order (so Recall@100 over a rerank of the top 20 still counts hits 21..100),
// cut to k. Batch-first: all queries are embedded in one call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/cross_encoder.h"
#include "model/model.h"
#include "retrieval/index.h"

namespace bertrank::retrieval {

enum class FirstStage { dense, bm25, hybrid };
FirstStage parse_first_stage(const std::string& s);  // "dense" | "bm25" | "hybrid"; throws otherwise

struct PipelineOptions {
  FirstStage mode = FirstStage::dense;
  size_t k = 10;           // hits returned per query
  size_t candidates = 0;   // rerank this many first-stage hits; 0: no rerank
  SearchParams search;     // nprobe, rescore factor
  model::ScoreOptions rerank;
};

struct PipelineHit {
  int64_t id = -1;
  float score = 0;              // the final score: cross-encoder score if reranked, else first stage
  float first_stage_score = 0;  // the first stage's score (cosine, BM25, or RRF)
  bool reranked = false;
};

struct PipelineTimings {
  double embed_seconds = 0, search_seconds = 0, rerank_seconds = 0;
};

// encoder is needed unless mode is bm25; cross_encoder is needed when candidates > 0 (throws
// std::invalid_argument otherwise). Returns one list per query, best first, at most k long.
std::vector<std::vector<PipelineHit>> run_pipeline(const Index& index, const model::BiEncoder* encoder,
                                                   const model::CrossEncoder* cross_encoder,
                                                   const std::vector<std::string>& queries,
                                                   const PipelineOptions& opt, PipelineTimings* timings = nullptr);

// Several pipelines over the same queries in one call (`bertrank eval`: every first stage x
// every rerank depth). Result r equals run_pipeline(..., runs[r]) hit for hit; what the runs
// have in common is done once:
//   - the queries are embedded once (if any run needs them embedded);
//   - runs with the same first stage (mode, search params and depth) share one search;
//   - the cross-encoder scores each distinct (query, document) pair once for all runs with the
//     same rerank options: a pair's score does not depend on the other candidates
//     (model/cross_encoder.h), so rerank@N for every N is the stable sort by score of the first
//     N first-stage hits, the rest behind.
// Returns [run][query] lists; timings sum the work done. Throws as run_pipeline does.
std::vector<std::vector<std::vector<PipelineHit>>> run_pipelines(const Index& index, const model::BiEncoder* encoder,
                                                                 const model::CrossEncoder* cross_encoder,
                                                                 const std::vector<std::string>& queries,
                                                                 const std::vector<PipelineOptions>& runs,
                                                                 PipelineTimings* timings = nullptr);

}  // namespace bertrank::retrieval

// bm25.h — Okapi BM25 over an in-memory inverted index.
//
// Analyzer (analyze()): bytes are split on every ASCII character that is not a letter or a
// digit; ASCII letters are lower-cased; bytes >= 0x80 (UTF-8 sequences) are kept inside tokens
// unchanged. With `stopwords` on, the 33 English stop words of kEnglishStopWords (the classic
// Lucene list) are dropped. No stemming.
//
// Scoring, for query q and document d (Lucene's non-negative IDF):
//   score(q, d) = sum over query tokens t (repeats count again) of
//                 idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * |d| / avgdl))
//   idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))
//   N = documents in the index, df(t) = documents containing t, |d| = tokens of d after the
//   analyzer, avgdl = mean |d|. Defaults k1 = 1.2, b = 0.75. Documents with no query token do
//   not appear in the results. Ties are broken by smaller id.
//
// File section BM25 (index_file.h), little-endian:
//   f32 k1, f32 b, u32 stopwords (0|1), u32 reserved (0)
//   u64 nterms; nterms x { u32 len, len bytes of term, u64 npostings,
//                          npostings x { i64 doc id, u32 tf } }
//   u64 ndocs;  ndocs x { i64 doc id, u32 length }
// Load checks: terms non-empty and unique, postings refer to listed documents, tf >= 1, each
// document's tf sum equals its length, k1 >= 0 and b in [0, 1], no trailing bytes.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "retrieval/index_file.h"
#include "retrieval/vector_index.h"

namespace bertrank::retrieval {

extern const char* const kEnglishStopWords[33];

struct Bm25Params {
  float k1 = 1.2f;
  float b = 0.75f;
  bool stopwords = true;
};

std::vector<std::string> analyze(const std::string& text, bool stopwords);

class Bm25Index {
 public:
  explicit Bm25Index(const Bm25Params& p = {});
  const Bm25Params& params() const { return p_; }
  size_t size() const { return doc_len_.size(); }
  size_t vocabulary_size() const { return postings_.size(); }
  bool contains(int64_t id) const { return doc_len_.count(id) != 0; }
  // Throws std::invalid_argument if the id is already present.
  void add(int64_t id, const std::string& text);
  bool remove(int64_t id);
  // Best k documents (fewer if fewer match), best first.
  std::vector<Hit> search(const std::string& query, size_t k) const;
  // Batch form: out arrays of n*k, padded with -1 / -inf.
  void search(size_t n, const std::string* queries, size_t k, float* out_scores,
              int64_t* out_ids) const;

  void write(IndexFileWriter& w) const;
  static Bm25Index read_from(const IndexFileReader& r);

 private:
  struct Posting {
    int64_t id;
    uint32_t tf;
  };
  Bm25Params p_;
  std::unordered_map<std::string, std::vector<Posting>> postings_;
  std::unordered_map<int64_t, uint32_t> doc_len_;
  std::unordered_map<int64_t, std::vector<std::string>> doc_terms_;  // distinct terms, for remove
  uint64_t total_len_ = 0;
};

}  // namespace bertrank::retrieval

#include "retrieval/bm25.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>
#include <unordered_set>

#include "common/checked_size.h"
#include "common/parallel_errors.h"

namespace bertrank::retrieval {

const char* const kEnglishStopWords[33] = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with"};

static bool is_stopword(const std::string& t) {
  static const std::unordered_set<std::string> s(std::begin(kEnglishStopWords), std::end(kEnglishStopWords));
  return s.count(t) != 0;
}

std::vector<std::string> analyze(const std::string& text, bool stopwords) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty() && !(stopwords && is_stopword(cur))) out.push_back(cur);
    cur.clear();
  };
  for (unsigned char c : text) {
    if (c >= 'A' && c <= 'Z')
      cur.push_back((char)(c - 'A' + 'a'));
    else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80)
      cur.push_back((char)c);
    else
      flush();
  }
  flush();
  return out;
}

Bm25Index::Bm25Index(const Bm25Params& p) : p_(p) {
  if (!(p.k1 >= 0) || !std::isfinite(p.k1)) throw std::invalid_argument("BM25: k1 must be >= 0");
  if (!(p.b >= 0 && p.b <= 1)) throw std::invalid_argument("BM25: b must be in [0, 1]");
}

void Bm25Index::add(int64_t id, const std::string& text) {
  if (contains(id)) throw std::invalid_argument("BM25: id " + std::to_string(id) + " is already indexed");
  const auto toks = analyze(text, p_.stopwords);
  std::map<std::string, uint32_t> tf;
  for (const auto& t : toks) ++tf[t];
  std::vector<std::string> terms;
  terms.reserve(tf.size());
  for (auto& [t, n] : tf) {
    postings_[t].push_back({id, n});
    terms.push_back(t);
  }
  doc_terms_[id] = std::move(terms);
  doc_len_[id] = (uint32_t)toks.size();
  total_len_ += toks.size();
}

bool Bm25Index::remove(int64_t id) {
  auto it = doc_len_.find(id);
  if (it == doc_len_.end()) return false;
  total_len_ -= it->second;
  doc_len_.erase(it);
  // A document without indexable terms (empty, or stopwords only) has no doc_terms_ entry
  // after a load (read_from rebuilds doc_terms_ from the postings).
  auto dt = doc_terms_.find(id);
  if (dt == doc_terms_.end()) return true;
  for (const auto& t : dt->second) {
    auto pit = postings_.find(t);
    auto& v = pit->second;
    for (size_t i = 0; i < v.size(); ++i)
      if (v[i].id == id) {
        v[i] = v.back();
        v.pop_back();
        break;
      }
    if (v.empty()) postings_.erase(pit);
  }
  doc_terms_.erase(dt);
  return true;
}

std::vector<Hit> Bm25Index::search(const std::string& query, size_t k) const {
  std::vector<Hit> out;
  if (k == 0 || doc_len_.empty()) return out;
  const double N = (double)doc_len_.size();
  const double avgdl = std::max(1e-9, (double)total_len_ / N);
  std::unordered_map<int64_t, double> acc;
  for (const auto& t : analyze(query, p_.stopwords)) {
    auto it = postings_.find(t);
    if (it == postings_.end()) continue;
    const double df = (double)it->second.size();
    const double idf = std::log(1.0 + (N - df + 0.5) / (df + 0.5));
    for (const Posting& p : it->second) {
      const double dl = doc_len_.at(p.id);
      const double tf = p.tf;
      acc[p.id] += idf * tf * (p_.k1 + 1) / (tf + p_.k1 * (1 - p_.b + p_.b * dl / avgdl));
    }
  }
  TopK heap(std::min(k, acc.size()));  // memory bounded by the matches, not by k
  for (auto& [id, s] : acc) heap.push((float)s, id, 0);
  return heap.take_sorted();
}

void Bm25Index::search(size_t n, const std::string* queries, size_t k, float* out_scores,
                       int64_t* out_ids) const {
  size_mul(n, k, "bm25 search: n * k");
  ParallelErrors errs;  // an exception must not leave the OpenMP region
#pragma omp parallel for schedule(dynamic) if (n > 8)
  for (size_t i = 0; i < n; ++i)
    errs.run([&] { write_hits(search(queries[i], k), k, out_scores + i * k, out_ids + i * k); });
  errs.rethrow();
}

void Bm25Index::write(IndexFileWriter& w) const {
  std::vector<uint8_t> b;
  put_bytes(b, &p_.k1, 4);
  put_bytes(b, &p_.b, 4);
  put_u32(b, p_.stopwords ? 1 : 0);
  put_u32(b, 0);
  // Sorted terms and documents: the same index always writes the same bytes.
  std::vector<const std::string*> terms;
  for (auto& kv : postings_) terms.push_back(&kv.first);
  std::sort(terms.begin(), terms.end(), [](auto a, auto b) { return *a < *b; });
  put_u64(b, terms.size());
  for (const std::string* t : terms) {
    put_u32(b, (uint32_t)t->size());
    put_bytes(b, t->data(), t->size());
    auto v = postings_.at(*t);
    std::sort(v.begin(), v.end(), [](const Posting& x, const Posting& y) { return x.id < y.id; });
    put_u64(b, v.size());
    for (const Posting& p : v) {
      put_i64(b, p.id);
      put_u32(b, p.tf);
    }
  }
  std::vector<std::pair<int64_t, uint32_t>> docs(doc_len_.begin(), doc_len_.end());
  std::sort(docs.begin(), docs.end());
  put_u64(b, docs.size());
  for (auto& [id, len] : docs) {
    put_i64(b, id);
    put_u32(b, len);
  }
  w.add(SectionType::bm25, std::move(b));
}

Bm25Index Bm25Index::read_from(const IndexFileReader& r) {
  ByteCursor c(r, SectionType::bm25, r.get(SectionType::bm25));
  Bm25Params p;
  p.k1 = c.f32("k1");
  p.b = c.f32("b");
  const uint32_t sw = c.u32("stopwords");
  if (sw > 1) c.fail("stopwords: " + std::to_string(sw) + " is not 0 or 1");
  p.stopwords = sw == 1;
  if (c.u32("reserved") != 0) c.fail("reserved: not zero");
  if (!(p.k1 >= 0) || !std::isfinite(p.k1)) c.fail("k1: must be a finite number >= 0");
  if (!(p.b >= 0 && p.b <= 1)) c.fail("b: must be in [0, 1]");
  Bm25Index x(p);
  const uint64_t nterms = c.u64("nterms");
  if (nterms > c.remaining() / 13) c.fail("nterms: " + std::to_string(nterms) + " cannot fit in the section");
  std::vector<std::pair<int64_t, uint32_t>> posted;  // (doc, tf) for the length check
  for (uint64_t i = 0; i < nterms; ++i) {
    const uint32_t len = c.u32("term length");
    if (len == 0) c.fail("term " + std::to_string(i) + ": empty");
    std::string term((const char*)c.bytes(len, "term bytes"), len);
    const uint64_t np = c.u64("npostings");
    if (np == 0 || np > c.remaining() / 12)
      c.fail("term '" + term + "': npostings " + std::to_string(np) + " is zero or cannot fit in the section");
    auto [it, fresh] = x.postings_.emplace(term, std::vector<Posting>{});
    if (!fresh) c.fail("term '" + term + "': appears twice");
    it->second.resize(np);
    for (uint64_t j = 0; j < np; ++j) {
      Posting& q = it->second[j];
      q.id = c.i64("posting doc id");
      q.tf = c.u32("posting tf");
      if (q.tf == 0) c.fail("term '" + term + "': posting with tf 0");
      x.doc_terms_[q.id].push_back(term);
    }
  }
  const uint64_t ndocs = c.u64("ndocs");
  if (ndocs > c.remaining() / 12) c.fail("ndocs: " + std::to_string(ndocs) + " cannot fit in the section");
  for (uint64_t i = 0; i < ndocs; ++i) {
    const int64_t id = c.i64("doc id");
    const uint32_t len = c.u32("doc length");
    if (!x.doc_len_.emplace(id, len).second) c.fail("doc " + std::to_string(id) + ": listed twice");
    x.total_len_ += len;
  }
  c.expect_end();
  for (auto& [id, terms] : x.doc_terms_)
    if (!x.doc_len_.count(id)) c.fail("posting refers to doc " + std::to_string(id) + ", which is not listed");
  // Lengths: the tf sum per document equals its length.
  std::unordered_map<int64_t, uint64_t> sums;
  for (auto& [t, v] : x.postings_)
    for (const Posting& q : v) sums[q.id] += q.tf;
  for (auto& [id, len] : x.doc_len_) {
    auto it = sums.find(id);
    const uint64_t s = it == sums.end() ? 0 : it->second;
    if (s != len)
      c.fail("doc " + std::to_string(id) + ": length " + std::to_string(len) +
             " disagrees with its postings (tf sum " + std::to_string(s) + ")");
  }
  for (auto& [id, terms] : x.doc_terms_) {
    std::sort(terms.begin(), terms.end());
    if (std::adjacent_find(terms.begin(), terms.end()) != terms.end())
      c.fail("doc " + std::to_string(id) + ": posted twice under one term");
  }
  return x;
}

}  // namespace bertrank::retrieval

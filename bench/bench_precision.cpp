// Reduced-precision encoders (model::LoadOptions::precision) against fp32: speed and quality.
//
//   build/bench/bench_precision speed   [--docs N] [--reps R] [--threads T] [--precisions fp32,int8,...]
//   build/bench/bench_precision quality [--queries-ce Q] [--candidates C] [--precisions int8,...]
//
// speed: embeds the first N MEDLINE documents (all-MiniLM-L6-v2, max 256 word pieces) with
//   each precision, R rounds interleaved (fp32, int8, ..., fp32, int8, ...) so that the load of
//   this shared machine hits every precision alike; prints the median wall time per precision,
//   tokens/s and the ratio to the first precision listed (default fp32,int8). The models are loaded (and packed) before timing.
// quality: for Cranfield and MEDLINE, every document and query embedded in fp32 and in each
//   precision: mean / min / 1st-percentile cosine to the fp32 embedding; dense retrieval
//   (exact inner product over all documents, top 100) NDCG@10 / MRR@10 / Recall@100 per
//   precision, evaluated like `bertrank eval` (retrieval/metrics.h). Cross-encoder
//   (weights/seeded-cross-encoder.brm): the first Q MEDLINE queries, each with its top C fp32
//   dense candidates; Spearman rank correlation of the scores with fp32 per query (mean, min)
//   and over all pairs pooled, and how often the top-1 candidate is the same.
// Output is Markdown on stdout. Data: ../shared/data/ir (BERTRANK_SHARED_DATA overrides).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/kernels.h"
#include "model/cross_encoder.h"
#include "model/model.h"
#include "retrieval/metrics.h"
#include "retrieval/smart.h"

using namespace bertrank;

namespace {

std::string data_dir() {
  if (const char* e = std::getenv("BERTRANK_SHARED_DATA")) return std::string(e) + "/ir";
  return std::string(BERTRANK_SOURCE_DIR) + "/../shared/data/ir";
}
std::string weights(const std::string& name) { return std::string(BERTRANK_SOURCE_DIR) + "/weights/" + name; }

std::vector<model::Precision> parse_list(const std::string& s) {
  std::vector<model::Precision> out;
  size_t i = 0;
  while (i <= s.size()) {
    const size_t j = std::min(s.find(',', i), s.size());
    if (j > i) out.push_back(model::parse_precision(s.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::shared_ptr<const model::Model> load(const std::string& path, model::Precision p) {
  model::LoadOptions o;
  o.precision = p;
  return model::Model::load(path, o);
}

int speed(int ndocs, int reps, int threads, const std::vector<model::Precision>& precisions) {
  const auto docs = retrieval::read_smart_file(data_dir() + "/medline/MED.ALL");
  std::vector<std::string> texts;
  for (size_t i = 0; i < docs.size() && int(i) < ndocs; ++i) texts.push_back(docs[i].text);
  std::vector<std::unique_ptr<model::BiEncoder>> enc;
  for (auto p : precisions) enc.push_back(std::make_unique<model::BiEncoder>(load(weights("all-MiniLM-L6-v2.brm"), p)));
  model::EmbedOptions eo;
  eo.num_threads = threads;
  std::vector<float> out(texts.size() * 384);
  model::EmbedInfo info;
  enc[0]->embed(texts, out.data(), &info, eo);  // warm-up (pool threads, page faults)
  size_t tokens = 0;
  for (int32_t t : info.num_tokens) tokens += size_t(t);
  std::vector<std::vector<double>> secs(precisions.size());
  for (int r = 0; r < reps; ++r) {
    for (size_t i = 0; i < precisions.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      enc[i]->embed(texts, out.data(), nullptr, eo);
      secs[i].push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  std::printf("MEDLINE: first %zu documents, %zu word pieces; %d thread(s); kernels %s; median of %d interleaved rounds\n\n",
              texts.size(), tokens, threads > 0 ? threads : omp_get_max_threads(),
              kernels::isa_name(kernels::active().isa), reps);
  std::printf("| precision | median s | min s | tokens/s | speed vs %s |\n|---|---|---|---|---|\n",
              model::precision_name(precisions[0]));
  const double base = median(secs[0]);
  for (size_t i = 0; i < precisions.size(); ++i) {
    const double m = median(secs[i]);
    std::printf("| %s | %.3f | %.3f | %.0f | %.2fx |\n", model::precision_name(precisions[i]), m,
                *std::min_element(secs[i].begin(), secs[i].end()), double(tokens) / m, base / m);
  }
  return 0;
}

struct Collection {
  std::string name, docs, queries, qrels;
};

double dot(const float* a, const float* b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += double(a[i]) * b[i];
  return s;
}

// Top `k` document indices by inner product, best first (ties: lower index).
std::vector<int> top_k(const float* q, const std::vector<float>& docs, int dim, int k) {
  const int n = int(docs.size() / size_t(dim));
  std::vector<std::pair<float, int>> s(size_t(n), {0.0f, 0});
  for (int d = 0; d < n; ++d) s[size_t(d)] = {float(dot(q, docs.data() + size_t(d) * dim, dim)), d};
  k = std::min(k, n);
  std::partial_sort(s.begin(), s.begin() + k, s.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<int> out;
  for (int i = 0; i < k; ++i) out.push_back(s[size_t(i)].second);
  return out;
}

std::vector<double> ranks(const std::vector<float>& x) {  // average ranks for ties
  std::vector<size_t> idx(x.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  std::vector<double> r(x.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && x[idx[j + 1]] == x[idx[i]]) ++j;
    for (size_t t = i; t <= j; ++t) r[idx[t]] = 0.5 * double(i + j) + 1;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<float>& a, const std::vector<float>& b) {
  const auto ra = ranks(a), rb = ranks(b);
  const double n = double(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n, mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 1.0;
}

int quality(int ce_queries, int candidates, const std::vector<model::Precision>& precisions) {
  const std::string dir = data_dir();
  const std::vector<Collection> cols = {{"cranfield", dir + "/cranfield/cran.all.1400", dir + "/cranfield/cran.qry",
                                         dir + "/cranfield/cranqrel"},
                                        {"medline", dir + "/medline/MED.ALL", dir + "/medline/MED.QRY",
                                         dir + "/medline/MED.REL"}};
  std::vector<model::Precision> all = {model::Precision::fp32};
  all.insert(all.end(), precisions.begin(), precisions.end());
  std::vector<std::unique_ptr<model::BiEncoder>> enc;
  for (auto p : all) enc.push_back(std::make_unique<model::BiEncoder>(load(weights("all-MiniLM-L6-v2.brm"), p)));
  const int dim = enc[0]->dim();
  std::printf("kernels %s, %d thread(s)\n\n", kernels::isa_name(kernels::active().isa), omp_get_max_threads());

  std::string cos_table = "| collection | precision | texts | mean cosine | min cosine | 1st percentile |\n|---|---|---|---|---|---|\n";
  std::string ndcg_table = "| collection | precision | NDCG@10 | MRR@10 | Recall@100 | ΔNDCG@10 (points) | queries |\n|---|---|---|---|---|---|---|\n";
  std::vector<float> med_docs_fp32, med_q_fp32;  // for the cross-encoder candidates
  std::vector<std::string> med_doc_text, med_q_text;

  for (const auto& c : cols) {
    const auto docs = retrieval::read_smart_file(c.docs);
    retrieval::QueryFileFormat fmt;
    auto queries = retrieval::read_queries(c.queries, &fmt);
    const auto qrels = retrieval::read_qrels_file(c.qrels);
    if (retrieval::resolve_query_numbering(queries, fmt, qrels, retrieval::QueryNumbering::numbering_auto) ==
        retrieval::QueryNumbering::numbering_ordinal)
      retrieval::renumber_queries_ordinal(queries);
    const auto judgements =
        retrieval::make_judgements(qrels, retrieval::resolve_gain_mapping(qrels, retrieval::GainMapping::gain_auto));
    std::vector<std::string> dtext, qtext, qids, dids;
    for (const auto& d : docs) {
      dtext.push_back(d.text);
      dids.push_back(retrieval::canonical_id(d.id));
    }
    for (const auto& q : queries) {
      qtext.push_back(q.text);
      qids.push_back(q.id);
    }
    std::vector<std::vector<float>> de(all.size()), qe(all.size());
    double ndcg0 = 0;
    for (size_t p = 0; p < all.size(); ++p) {
      de[p].resize(dtext.size() * size_t(dim));
      qe[p].resize(qtext.size() * size_t(dim));
      const auto t0 = std::chrono::steady_clock::now();
      enc[p]->embed(dtext, de[p].data());
      enc[p]->embed(qtext, qe[p].data());
      std::fprintf(stderr, "%s %s: embedded in %.1f s\n", c.name.c_str(), model::precision_name(all[p]),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      std::unordered_map<std::string, std::vector<std::string>> run;
      for (size_t q = 0; q < qtext.size(); ++q) {
        auto& r = run[qids[q]];
        for (int d : top_k(qe[p].data() + q * size_t(dim), de[p], dim, 100)) r.push_back(dids[size_t(d)]);
      }
      const auto sum = retrieval::evaluate_run(qids, run, judgements);
      if (p == 0) ndcg0 = sum.ndcg10;
      char line[512];
      std::snprintf(line, sizeof line, "| %s | %s | %.4f | %.4f | %.4f | %+.2f | %zu |\n", c.name.c_str(),
                    model::precision_name(all[p]), sum.ndcg10, sum.mrr10, sum.recall100, 100 * (sum.ndcg10 - ndcg0),
                    sum.queries);
      ndcg_table += line;
      if (p == 0) continue;
      std::vector<double> cs;
      for (size_t i = 0; i < dtext.size(); ++i)
        cs.push_back(dot(de[0].data() + i * dim, de[p].data() + i * dim, dim) /
                     std::sqrt(dot(de[0].data() + i * dim, de[0].data() + i * dim, dim) *
                               dot(de[p].data() + i * dim, de[p].data() + i * dim, dim)));
      for (size_t i = 0; i < qtext.size(); ++i)
        cs.push_back(dot(qe[0].data() + i * dim, qe[p].data() + i * dim, dim) /
                     std::sqrt(dot(qe[0].data() + i * dim, qe[0].data() + i * dim, dim) *
                               dot(qe[p].data() + i * dim, qe[p].data() + i * dim, dim)));
      const double mean = std::accumulate(cs.begin(), cs.end(), 0.0) / double(cs.size());
      std::sort(cs.begin(), cs.end());
      std::snprintf(line, sizeof line, "| %s | %s | %zu | %.5f | %.5f | %.5f |\n", c.name.c_str(),
                    model::precision_name(all[p]), cs.size(), mean, cs.front(), cs[cs.size() / 100]);
      cos_table += line;
    }
    if (c.name == "medline") {
      med_docs_fp32 = de[0];
      med_q_fp32 = qe[0];
      med_doc_text = dtext;
      med_q_text = qtext;
    }
  }
  std::printf("### Bi-encoder (all-MiniLM-L6-v2): cosine to fp32, every document and query\n\n%s\n", cos_table.c_str());
  std::printf("### Dense retrieval (exact inner product, top 100)\n\n%s\n", ndcg_table.c_str());

  // Cross-encoder.
  std::vector<std::unique_ptr<model::CrossEncoder>> ce;
  for (auto p : all) ce.push_back(std::make_unique<model::CrossEncoder>(load(weights("seeded-cross-encoder.brm"), p)));
  const int nq = std::min<int>(ce_queries, int(med_q_text.size()));
  std::vector<std::vector<float>> pooled(all.size());
  std::printf("### Cross-encoder (seeded-cross-encoder.brm): MEDLINE, first %d queries × top %d fp32 dense candidates\n\n",
              nq, candidates);
  std::printf("| precision | mean Spearman per query | min Spearman per query | pooled Spearman | same top-1 | max abs score diff |\n|---|---|---|---|---|---|\n");
  std::vector<std::vector<std::vector<float>>> scores(all.size(), std::vector<std::vector<float>>(size_t(nq)));
  for (int q = 0; q < nq; ++q) {
    std::vector<std::string> cand;
    for (int d : top_k(med_q_fp32.data() + size_t(q) * dim, med_docs_fp32, dim, candidates))
      cand.push_back(med_doc_text[size_t(d)]);
    for (size_t p = 0; p < all.size(); ++p) {
      auto& s = scores[p][size_t(q)];
      s.resize(cand.size() * size_t(ce[p]->num_labels()));
      ce[p]->score(med_q_text[size_t(q)], cand, s.data());
      pooled[p].insert(pooled[p].end(), s.begin(), s.end());
    }
  }
  for (size_t p = 1; p < all.size(); ++p) {
    double sum = 0, mn = 1, maxdiff = 0;
    int same = 0;
    for (int q = 0; q < nq; ++q) {
      const auto& a = scores[0][size_t(q)];
      const auto& b = scores[p][size_t(q)];
      const double r = spearman(a, b);
      sum += r;
      mn = std::min(mn, r);
      same += std::max_element(a.begin(), a.end()) - a.begin() == std::max_element(b.begin(), b.end()) - b.begin();
      for (size_t i = 0; i < a.size(); ++i) maxdiff = std::max(maxdiff, double(std::fabs(a[i] - b[i])));
    }
    std::printf("| %s | %.5f | %.5f | %.5f | %d / %d | %.4f |\n", model::precision_name(all[p]), sum / nq, mn,
                spearman(pooled[0], pooled[p]), same, nq, maxdiff);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw std::invalid_argument("usage: bench_precision speed|quality [options]");
    const std::string mode = argv[1];
    int docs = 200, reps = 5, threads = 0, ce_queries = 30, candidates = 20;
    std::string precisions = mode == "speed" ? "fp32,int8" : "int8";
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++i];
      };
      if (a == "--docs") docs = std::stoi(next());
      else if (a == "--reps") reps = std::stoi(next());
      else if (a == "--threads") threads = std::stoi(next());
      else if (a == "--precisions") precisions = next();
      else if (a == "--queries-ce") ce_queries = std::stoi(next());
      else if (a == "--candidates") candidates = std::stoi(next());
      else throw std::invalid_argument("unknown option " + a);
    }
    if (!std::filesystem::exists(data_dir()) || !std::filesystem::exists(weights("all-MiniLM-L6-v2.brm")))
      throw std::runtime_error("needs ../shared/data/ir and weights/all-MiniLM-L6-v2.brm (scripts/setup.sh)");
    auto list = parse_list(precisions);
    if (mode == "speed") {
      if (list.empty()) list.push_back(model::Precision::fp32);
      return speed(docs, std::max(reps, 1), threads, list);
    }
    if (mode == "quality") {
      list.erase(std::remove(list.begin(), list.end(), model::Precision::fp32), list.end());
      return quality(ce_queries, candidates, list);
    }
    throw std::invalid_argument("unknown mode " + mode);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_precision: %s\n", e.what());
    return 1;
  }
}

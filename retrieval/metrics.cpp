#include "retrieval/metrics.h"

#include "retrieval/docs_io.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace bertrank::retrieval {

std::string canonical_id(const std::string& id) {
  if (id.empty()) return id;
  for (char c : id)
    if (c < '0' || c > '9') return id;
  const size_t nz = id.find_first_not_of('0');
  return nz == std::string::npos ? std::string("0") : id.substr(nz);
}

GainMapping resolve_gain_mapping(const std::vector<Qrel>& qrels, GainMapping m) {
  if (m != GainMapping::gain_auto) return m;
  bool any_minus_one = false;
  for (const auto& q : qrels) {
    if (q.grade == -1)
      any_minus_one = true;
    else if (q.grade < 1 || q.grade > 4)
      return GainMapping::gain_identity;
  }
  return any_minus_one ? GainMapping::gain_cleverdon : GainMapping::gain_identity;
}

double gain_for_grade(int grade, GainMapping m) {
  switch (m) {
    case GainMapping::gain_identity:
      return grade > 0 ? double(grade) : 0.0;
    case GainMapping::gain_cleverdon:
      return (grade >= 1 && grade <= 4) ? double(5 - grade) : 0.0;
    case GainMapping::gain_auto:
      break;
  }
  throw std::invalid_argument("gain_for_grade: the gain mapping must be resolved first");
}

const char* gain_mapping_name(GainMapping m) {
  switch (m) {
    case GainMapping::gain_identity: return "identity";
    case GainMapping::gain_cleverdon: return "cleverdon";
    case GainMapping::gain_auto: return "auto";
  }
  return "?";
}

size_t Judgements::relevant_count(const std::string& query_id) const {
  auto it = by_query.find(query_id);
  if (it == by_query.end()) return 0;
  size_t n = 0;
  for (const auto& [doc, gain] : it->second) n += gain > 0;
  return n;
}

Judgements make_judgements(const std::vector<Qrel>& qrels, GainMapping m) {
  m = resolve_gain_mapping(qrels, m);
  Judgements j;
  for (const auto& q : qrels) {
    auto& docs = j.by_query[canonical_id(q.query_id)];
    const double g = gain_for_grade(q.grade, m);
    auto [it, fresh] = docs.emplace(canonical_id(q.doc_id), g);
    if (!fresh) it->second = std::max(it->second, g);
  }
  return j;
}

namespace {

std::vector<QueryInput> read_jsonl_queries(const std::string& path, TextEncoding encoding,
                                           TextDecodeReport* report) {
  std::vector<QueryInput> out;
  for_each_jsonl_object(path, "queries", [&](const nlohmann::json& j, const std::string& where) {
    QueryInput q;
    if (!j.contains("id")) throw std::runtime_error(where + ": missing \"id\"");
    const auto& id = j["id"];
    if (id.is_string())
      q.id = id.get<std::string>();
    else if (id.is_number_integer())
      q.id = id.dump();
    else
      throw std::runtime_error(where + ": \"id\" must be a string or an integer");
    if (q.id.empty()) throw std::runtime_error(where + ": \"id\" is empty");
    if (!j.contains("text") || !j["text"].is_string())
      throw std::runtime_error(where + ": missing \"text\" string");
    q.id = canonical_id(q.id);
    q.text = j["text"].get<std::string>();
    out.push_back(std::move(q));
  }, encoding, report);
  return out;
}

bool parse_positive(const std::string& s, size_t* v) {
  if (s.empty() || s.size() > 18) return false;
  size_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + size_t(c - '0');
  }
  *v = x;
  return x > 0;
}

}  // namespace

std::vector<QueryInput> read_queries(const std::string& path, QueryFileFormat* format, TextEncoding encoding,
                                     TextDecodeReport* report) {
  std::vector<QueryInput> out;
  const bool smart = is_smart_file(path);
  if (smart) {
    for (auto& r : read_smart_file(path, encoding, report)) out.push_back({canonical_id(r.id), std::move(r.text)});
  } else {
    out = read_jsonl_queries(path, encoding, report);
  }
  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < out.size(); ++i) {
    auto [it, fresh] = seen.emplace(out[i].id, i);
    if (!fresh)
      throw std::runtime_error(path + ": query id '" + out[i].id + "' appears twice (queries " +
                               std::to_string(it->second + 1) + " and " + std::to_string(i + 1) + ")");
  }
  if (format) *format = smart ? QueryFileFormat::query_smart : QueryFileFormat::query_jsonl;
  return out;
}

QueryNumbering resolve_query_numbering(const std::vector<QueryInput>& queries, QueryFileFormat format,
                                       const std::vector<Qrel>& qrels, QueryNumbering n) {
  if (n != QueryNumbering::numbering_auto) return n;
  if (format != QueryFileFormat::query_smart || qrels.empty()) return QueryNumbering::numbering_record_id;
  std::unordered_set<std::string> ids;
  for (const auto& q : queries) ids.insert(q.id);
  bool some_unmatched = false;
  for (const auto& r : qrels) {
    const std::string qid = canonical_id(r.query_id);
    size_t v = 0;
    if (!parse_positive(qid, &v) || v > queries.size()) return QueryNumbering::numbering_record_id;
    if (!ids.count(qid)) some_unmatched = true;
  }
  return some_unmatched ? QueryNumbering::numbering_ordinal : QueryNumbering::numbering_record_id;
}

void renumber_queries_ordinal(std::vector<QueryInput>& queries) {
  for (size_t i = 0; i < queries.size(); ++i) queries[i].id = std::to_string(i + 1);
}

QrelsMatch match_qrels(const std::vector<Qrel>& qrels, const std::vector<QueryInput>& queries,
                       const std::function<bool(const std::string&)>& document_known) {
  std::unordered_set<std::string> qids;
  for (const auto& q : queries) qids.insert(q.id);
  std::unordered_map<std::string, bool> known_doc;  // each document asked once
  QrelsMatch m;
  m.judgements = qrels.size();
  for (const auto& r : qrels) {
    const std::string qid = canonical_id(r.query_id), did = canonical_id(r.doc_id);
    const bool q_ok = qids.count(qid) > 0;
    auto it = known_doc.find(did);
    if (it == known_doc.end()) it = known_doc.emplace(did, document_known(did)).first;
    const bool d_ok = it->second;
    if (!q_ok && m.unknown_queries++ == 0) m.first_unknown_query = qid;
    if (!d_ok && m.unknown_documents++ == 0) m.first_unknown_document = did;
    m.matched += q_ok && d_ok;
  }
  return m;
}

namespace {

// Calls f(rank (1-based), gain) for the first k distinct documents of `ranked`.
void for_each_ranked(const std::vector<std::string>& ranked, const std::unordered_map<std::string, double>& gains,
                     size_t k, const std::function<bool(size_t, double)>& f) {
  std::unordered_set<std::string> seen;
  size_t rank = 0;
  for (const auto& d : ranked) {
    if (rank >= k) break;
    if (!seen.insert(d).second) continue;
    ++rank;
    auto it = gains.find(d);
    if (!f(rank, it == gains.end() ? 0.0 : it->second)) break;
  }
}

}  // namespace

double ndcg_at(const std::vector<std::string>& ranked, const std::unordered_map<std::string, double>& gains,
               size_t k) {
  double dcg = 0;
  for_each_ranked(ranked, gains, k, [&](size_t rank, double g) {
    dcg += g / std::log2(double(rank) + 1.0);
    return true;
  });
  std::vector<double> ideal;
  for (const auto& [doc, g] : gains)
    if (g > 0) ideal.push_back(g);
  std::sort(ideal.begin(), ideal.end(), std::greater<double>());
  double idcg = 0;
  for (size_t i = 0; i < ideal.size() && i < k; ++i) idcg += ideal[i] / std::log2(double(i) + 2.0);
  return idcg > 0 ? dcg / idcg : 0.0;
}

double mrr_at(const std::vector<std::string>& ranked, const std::unordered_map<std::string, double>& gains,
              size_t k) {
  double rr = 0;
  for_each_ranked(ranked, gains, k, [&](size_t rank, double g) {
    if (g > 0) {
      rr = 1.0 / double(rank);
      return false;
    }
    return true;
  });
  return rr;
}

double recall_at(const std::vector<std::string>& ranked, const std::unordered_map<std::string, double>& gains,
                 size_t k) {
  size_t relevant = 0;
  for (const auto& [doc, g] : gains) relevant += g > 0;
  if (relevant == 0) return 0.0;
  size_t found = 0;
  for_each_ranked(ranked, gains, k, [&](size_t, double g) {
    found += g > 0;
    return true;
  });
  return double(found) / double(relevant);
}

EvalSummary evaluate_run(const std::vector<std::string>& query_ids,
                         const std::unordered_map<std::string, std::vector<std::string>>& run,
                         const Judgements& judgements) {
  EvalSummary s;
  static const std::vector<std::string> kEmpty;
  for (const auto& qid : query_ids) {
    auto jt = judgements.by_query.find(qid);
    if (jt == judgements.by_query.end() || judgements.relevant_count(qid) == 0) {
      ++s.skipped;
      continue;
    }
    auto rt = run.find(qid);
    const auto& ranked = rt == run.end() ? kEmpty : rt->second;
    QueryMetrics m;
    m.query_id = qid;
    m.ndcg10 = ndcg_at(ranked, jt->second, 10);
    m.mrr10 = mrr_at(ranked, jt->second, 10);
    m.recall100 = recall_at(ranked, jt->second, 100);
    s.ndcg10 += m.ndcg10;
    s.mrr10 += m.mrr10;
    s.recall100 += m.recall100;
    s.per_query.push_back(std::move(m));
  }
  s.queries = s.per_query.size();
  if (s.queries) {
    s.ndcg10 /= double(s.queries);
    s.mrr10 /= double(s.queries);
    s.recall100 /= double(s.queries);
  }
  return s;
}

}  // namespace bertrank::retrieval

// metrics.h — ranking metrics (NDCG@k, MRR@k, Recall@k) and the query / judgement readers that
// `bertrank eval` and the reference pipeline (tests/golden/ref_pipeline.py) share.
//
// Ids. Query and document ids are strings, compared after canonical_id(): a string of ASCII
// digits loses its leading zeros ("001" -> "1", "000" -> "0"); anything else is kept as is.
// So Cranfield's ".I 001" and a judgement "1 ..." name the same query, and index ids (int64)
// compare with std::to_string(id).
//
// Gains (GainMapping), from the integer grade of a judgement:
//   identity   gain = grade when grade > 0, else 0 (MEDLINE: every judgement is 1; TREC qrels
//              with graded relevance use their grade as the gain, non-positive = not relevant)
//   cleverdon  Cranfield's grades: 1 complete answer -> 4, 2 high relevance -> 3, 3 useful
//              background -> 2, 4 minimal interest -> 1 (gain = 5 - grade); -1 not relevant
//              and anything else -> 0. Relevant for MRR / Recall = gain > 0, i.e. grades 1..4.
//   auto       cleverdon when every grade is in {-1, 1, 2, 3, 4} and at least one is -1 (the
//              Cranfield file), else identity.
// Gains are linear (no 2^g - 1), as trec_eval's ndcg_cut and pytrec_eval use them.
//
// Metrics of one query, for a ranking r_1, r_2, ... (best first; a document id that appears
// again later in the ranking is ignored there) and the query's judgements:
//   DCG@k    = sum_{i=1..min(k,|r|)} gain(r_i) / log2(i + 1)      (unjudged documents: gain 0)
//   IDCG@k   = the same over the query's judged gains sorted in decreasing order
//   NDCG@k   = DCG@k / IDCG@k (0 when IDCG@k is 0)
//   MRR@k    = 1 / i for the first i <= k with gain(r_i) > 0, else 0
//   Recall@k = |{r_1..r_k} ∩ R| / |R|, R = judged documents with gain > 0
// evaluate_run() averages each metric over the queries of `query_ids` that have at least one
// judgement with gain > 0 (a query without a ranking in the run counts with 0 for all three);
// queries without a relevant judgement are skipped and not counted.
//
// Query files (read_queries): SMART (first non-blank line starts with ".I": id = the .I id,
// text = SmartRecord::text of smart.h) or jsonl, one {"id": <string or integer>, "text": "..."}
// per line (blank lines skipped; errors name the file and line). Ids must be unique. Text and
// ids are decoded as docs_io.h says (UTF-8 with U+FFFD replacement by default, or Latin-1), so
// they are valid UTF-8; `report` counts the queries in which something was replaced.
//
// Query numbering (QueryNumbering). Cranfield's judgements number the queries 1..225 in the
// order of cran.qry, not by their .I ids (../shared/data/README.md):
//   record_id  judgements use the ids of the query file
//   ordinal    judgement query "n" means the n-th query of the file (1-based)
//   auto       ordinal when the file is SMART, some judged query id is not an id of the file, and
//              every judged query id is an integer in 1..(number of queries); else record_id.
// resolve_query_numbering() returns the decision; apply it with renumber_queries_ordinal().
//
// Matching (match_qrels). A judgement whose query is not in the query file, or whose document
// is not in the index, cannot be matched by any ranking: evaluate_run() still counts the
// latter as a relevant document never retrieved (as trec_eval does), and ignores the former.
// match_qrels() counts both so that `bertrank eval` can say so (and refuse to print metrics
// when no judgement matches at all), instead of printing zeros.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "retrieval/smart.h"

namespace bertrank::retrieval {

std::string canonical_id(const std::string& id);

enum class GainMapping { gain_auto, gain_identity, gain_cleverdon };

// Resolves gain_auto against the grades of `qrels`; other values are returned as they are.
GainMapping resolve_gain_mapping(const std::vector<Qrel>& qrels, GainMapping m);
double gain_for_grade(int grade, GainMapping m);  // m must not be gain_auto
const char* gain_mapping_name(GainMapping m);     // "identity" | "cleverdon" | "auto"

// query id -> (document id -> gain); ids canonical. A document judged twice for a query keeps
// the larger gain.
struct Judgements {
  std::unordered_map<std::string, std::unordered_map<std::string, double>> by_query;
  size_t relevant_count(const std::string& query_id) const;  // judgements with gain > 0
};

// Throws std::invalid_argument for gain_auto unless qrels were given to resolve it (they are).
Judgements make_judgements(const std::vector<Qrel>& qrels, GainMapping m);

struct QueryInput {
  std::string id;  // canonical
  std::string text;
};

enum class QueryFileFormat { query_smart, query_jsonl };
// Throws std::runtime_error naming the file (and line) on unreadable or malformed input.
std::vector<QueryInput> read_queries(const std::string& path, QueryFileFormat* format = nullptr,
                                     TextEncoding encoding = TextEncoding::text_utf8,
                                     TextDecodeReport* report = nullptr);

enum class QueryNumbering { numbering_auto, numbering_record_id, numbering_ordinal };
QueryNumbering resolve_query_numbering(const std::vector<QueryInput>& queries, QueryFileFormat format,
                                       const std::vector<Qrel>& qrels, QueryNumbering n);
// Replaces each query's id by its 1-based position ("1", "2", ...).
void renumber_queries_ordinal(std::vector<QueryInput>& queries);

// How the judgements meet the queries (ids as they are after numbering) and the index.
// Counts are of judgements (qrels lines), each counted in every way it fails to match.
struct QrelsMatch {
  size_t judgements = 0;         // qrels.size()
  size_t unknown_queries = 0;    // judgements whose query is not one of `queries`
  size_t unknown_documents = 0;  // judgements whose document is not in the index
  size_t matched = 0;            // judgements with a known query and a known document
  std::string first_unknown_query, first_unknown_document;  // canonical ids, "" if none
};
// document_known(canonical document id) says whether the index holds that document.
QrelsMatch match_qrels(const std::vector<Qrel>& qrels, const std::vector<QueryInput>& queries,
                       const std::function<bool(const std::string&)>& document_known);

// Per-query metrics; `ranked` best first, ids canonical (see canonical_id).
double ndcg_at(const std::vector<std::string>& ranked, const std::unordered_map<std::string, double>& gains,
               size_t k);
double mrr_at(const std::vector<std::string>& ranked, const std::unordered_map<std::string, double>& gains,
              size_t k);
double recall_at(const std::vector<std::string>& ranked, const std::unordered_map<std::string, double>& gains,
                 size_t k);

struct QueryMetrics {
  std::string query_id;
  double ndcg10 = 0, mrr10 = 0, recall100 = 0;
};

struct EvalSummary {
  double ndcg10 = 0, mrr10 = 0, recall100 = 0;  // means over `queries`
  size_t queries = 0;                            // queries with >= 1 relevant judgement
  size_t skipped = 0;                            // queries of query_ids without one
  std::vector<QueryMetrics> per_query;           // in query_ids order, evaluated queries only
};

// run: query id -> ranking (best first), at least 100 long for a full Recall@100.
EvalSummary evaluate_run(const std::vector<std::string>& query_ids,
                         const std::unordered_map<std::string, std::vector<std::string>>& run,
                         const Judgements& judgements);

}  // namespace bertrank::retrieval

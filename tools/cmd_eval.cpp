// `bertrank eval -i <index> --queries <file> --qrels <file> [--mode dense|bm25|hybrid[,...]]
//                [--rerank <cross-encoder .brm> --candidates N[,N...]]`:
// runs every query through retrieve-then-rerank at depth 100 and prints one JSON object
// {"ndcg@10","mrr@10","recall@100","queries",...} (retrieval/metrics.h has the definitions:
// graded gains for Cranfield's grades, binary otherwise; queries without a relevant judgement
// are skipped and counted). Queries: SMART (.I/.W) or jsonl {"id","text"}; qrels: "q d grade"
// or TREC "q 0 d grade". Cranfield's qrels number queries by their order in the file; that is
// detected (see metrics.h).
//
// Several modes and/or candidate counts (--mode bm25,dense,hybrid --candidates 20,50,100) print
// one JSON line per (mode, candidates) pair, first-stage rows (candidates 0) included. All rows
// come from one bertrank_search_runs call (api/pipeline.h run_pipelines): each row is what
// `bertrank search --rerank` returns for it, the queries are embedded once, each mode searches
// once, and each distinct (query, document) pair is scored by the cross-encoder once, however
// many rows use it. Every row's first stage is max(100, largest candidates) deep, cut to 100.
//
// Unmatched ids (retrieval/metrics.h match_qrels): each row also carries "qrels" (judgements
// read), "qrels_unknown_queries" (judgements naming a query not in --queries) and
// "qrels_unknown_documents" (judgements naming a document not in the index); non-zero counts
// and queries without a relevant judgement are also warned about on stderr. When no judgement
// names both a known query and a known document, or no query has a relevant judgement, eval
// fails (exit 1) with the counts instead of printing zeros. --encoding decodes the queries and
// qrels files as `index build` does its documents (retrieval/docs_io.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/utf8.h"
#include "retrieval/docs_io.h"
#include "retrieval/metrics.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kEvalDepth = 100;  // rankings are cut to this (Recall@100)

template <typename T>
std::vector<T> parse_list(const std::string& s, T (*parse)(const std::string&)) {
  std::vector<T> out;
  std::stringstream ss(s);
  for (std::string tok; std::getline(ss, tok, ',');)
    if (!tok.empty()) out.push_back(parse(tok));
  if (out.empty()) throw std::invalid_argument("empty list '" + s + "'");
  return out;
}
size_t parse_count(const std::string& s) {
  size_t pos = 0;
  const unsigned long long v = std::stoull(s, &pos);
  if (pos != s.size()) throw std::invalid_argument("'" + s + "' is not a count");
  return size_t(v);
}
std::string mode_name(const std::string& s) {
  parse_mode(s);
  return s;
}

struct EvalArgs {
  std::string index, model, queries, qrels, mode = "dense", rerank, precision = "fp32";
  std::string candidates, encoding = "utf-8";
  size_t nprobe = 0;
  int threads = 0;
  bool per_query = false;
};

void add_eval_options(CLI::App* cmd, EvalArgs& a) {
  cmd->add_option("-i,--index", a.index, "Index file")->required();
  cmd->add_option("--queries", a.queries, "Queries: SMART file or jsonl {\"id\",\"text\"}")->required();
  cmd->add_option("--qrels", a.qrels, "Judgements: 'q d grade' or TREC 'q 0 d grade'")->required();
  cmd->add_option("--mode", a.mode, "First stage: dense, bm25 or hybrid (or a comma-separated list)");
  cmd->add_option("--rerank", a.rerank, "Cross-encoder model (.brm) for the second stage");
  cmd->add_option("--candidates", a.candidates,
                  "First-stage hits to rerank (default 100 with --rerank), or a list, e.g. 20,50,100");
  cmd->add_option("--nprobe", a.nprobe, "IVF lists to visit (default: the index's)");
  cmd->add_option("-m,--model", a.model, "Bi-encoder model file, if it moved since the index was built");
  cmd->add_option("--encoding", a.encoding,
                  "Queries and qrels files: utf-8 (default; invalid bytes become U+FFFD) or latin-1");
  add_threads_option(cmd, a.threads);
  add_precision_option(cmd, a.precision);
  cmd->add_flag("--per-query", a.per_query, "Also list each query's metrics");
}

// The judged queries: ids numbered as the qrels number them, and the judgements as gains.
struct JudgedQueries {
  std::vector<retrieval::QueryInput> queries;
  std::vector<retrieval::Qrel> qrels;
  retrieval::GainMapping mapping;
  retrieval::Judgements judgements;
};

JudgedQueries read_judged_queries(const EvalArgs& a, TextEncoding encoding) {
  JudgedQueries j;
  retrieval::QueryFileFormat fmt;
  TextDecodeReport qrep, rrep;
  j.queries = retrieval::read_queries(a.queries, &fmt, encoding, &qrep);
  j.qrels = retrieval::read_qrels_file(a.qrels, encoding, &rrep);
  for (const auto& w : {text_decode_warning("eval", "queries", qrep), text_decode_warning("eval", "judgements", rrep)})
    if (!w.empty()) std::fprintf(stderr, "%s\n", w.c_str());
  if (retrieval::resolve_query_numbering(j.queries, fmt, j.qrels, retrieval::QueryNumbering::numbering_auto) ==
      retrieval::QueryNumbering::numbering_ordinal)
    retrieval::renumber_queries_ordinal(j.queries);
  j.mapping = retrieval::resolve_gain_mapping(j.qrels, retrieval::GainMapping::gain_auto);
  j.judgements = retrieval::make_judgements(j.qrels, j.mapping);
  return j;
}

// Says what cannot match, before any model runs; refuses to print metrics of nothing.
retrieval::QrelsMatch check_judgements(const EvalArgs& a, const Index& idx, const JudgedQueries& j) {
  if (j.qrels.empty()) throw std::runtime_error("eval: the qrels file '" + a.qrels + "' holds no judgements");
  const auto match = retrieval::match_qrels(j.qrels, j.queries, [&](const std::string& id) {
    int64_t v = 0;
    try {
      v = retrieval::parse_doc_id(id, "qrels");
    } catch (const std::invalid_argument&) {
      return false;  // not an integer: no index id can equal it
    }
    return bertrank_index_document(idx.get(), v, nullptr, nullptr, nullptr) == BERTRANK_OK;
  });
  size_t judged_queries = 0;
  for (const auto& q : j.queries) judged_queries += j.judgements.relevant_count(q.id) > 0;
  const std::string n_of = std::to_string(match.judgements);
  const std::string unknown_q = std::to_string(match.unknown_queries) + " of " + n_of +
                                " judgements name a query not in '" + a.queries + "' (first: '" +
                                match.first_unknown_query + "')";
  const std::string unknown_d = std::to_string(match.unknown_documents) + " of " + n_of +
                                " judgements name a document not in the index '" + a.index + "' (first: '" +
                                match.first_unknown_document + "')";
  if (match.matched == 0) {
    std::string why;
    if (match.unknown_queries) why += "; " + unknown_q;
    if (match.unknown_documents) why += "; " + unknown_d;
    throw std::runtime_error("eval: no judgement of '" + a.qrels + "' names both a query of '" + a.queries +
                             "' and a document of the index" + why);
  }
  if (judged_queries == 0)
    throw std::runtime_error("eval: no query of '" + a.queries + "' has a relevant judgement (grade > 0) in '" +
                             a.qrels + "'");
  if (match.unknown_queries) std::fprintf(stderr, "eval: warning: %s\n", unknown_q.c_str());
  if (match.unknown_documents)
    std::fprintf(stderr, "eval: warning: %s; they are never retrieved, and a relevant one still counts in NDCG's ideal "
                 "ranking and in Recall (as in trec_eval)\n",
                 unknown_d.c_str());
  if (judged_queries < j.queries.size())
    std::fprintf(stderr, "eval: warning: %zu of %zu queries have no relevant judgement and are skipped\n",
                 j.queries.size() - judged_queries, j.queries.size());
  return match;
}

// The rows to print: every mode x every rerank depth (0: the first stage alone).
struct EvalRow {
  std::string mode;
  size_t candidates;
};

std::vector<EvalRow> eval_rows(const EvalArgs& a) {
  const std::vector<std::string> modes = parse_list<std::string>(a.mode, mode_name);
  std::vector<size_t> depths = {0};
  if (!a.rerank.empty()) {
    depths = a.candidates.empty() ? std::vector<size_t>{100} : parse_list<size_t>(a.candidates, parse_count);
    for (size_t d : depths)
      if (d == 0) throw std::invalid_argument("--candidates: counts must be > 0");
  } else if (!a.candidates.empty()) {
    throw std::invalid_argument("--candidates needs --rerank");
  }
  const bool many = modes.size() > 1 || depths.size() > 1;
  if (many && !a.rerank.empty()) depths.insert(depths.begin(), 0);  // first-stage rows too
  std::vector<EvalRow> rows;
  for (const auto& m : modes)
    for (size_t d : depths) rows.push_back({m, d});
  return rows;
}

// Every row's ranking of every query, from one bertrank_search_runs call: [row][query].
// The first stage of every row is max(100, largest candidates) deep, so rows differ only by
// their rerank depth.
std::vector<std::vector<std::vector<Hit>>> run_rows(const EvalArgs& a, const Index& idx,
                                                    const std::vector<EvalRow>& rows,
                                                    const std::vector<std::string>& texts, bertrank_timings* t) {
  size_t top = 0;
  for (const EvalRow& r : rows) top = std::max(top, r.candidates);
  Model enc, ce;
  if (std::any_of(rows.begin(), rows.end(), [](const EvalRow& r) { return r.mode != "bm25"; }))
    enc = load_index_model(idx.get(), a.model, a.precision);
  if (!a.rerank.empty()) ce = load_model(a.rerank, a.precision);
  std::vector<bertrank_search_params> runs;
  for (const EvalRow& r : rows) {
    bertrank_search_params sp = bertrank_search_default_params();
    sp.mode = parse_mode(r.mode);
    sp.k = std::max(kEvalDepth, top);
    sp.candidates = r.candidates;
    sp.nprobe = a.nprobe;
    sp.num_threads = a.threads;
    sp.rerank.num_threads = a.threads;
    runs.push_back(sp);
  }
  return idx.search_runs(texts, enc.get() ? &enc : nullptr, ce.get() ? &ce : nullptr, runs, t);
}

// Distinct (query, document) pairs the cross-encoder scored for all rows.
size_t pairs_scored(const std::vector<std::vector<std::vector<Hit>>>& results) {
  std::set<std::pair<size_t, int64_t>> pairs;
  for (const auto& row : results)
    for (size_t q = 0; q < row.size(); ++q)
      for (const Hit& h : row[q])
        if (h.reranked) pairs.emplace(q, h.id);
  return pairs.size();
}

retrieval::EvalSummary evaluate_row(const std::vector<std::vector<Hit>>& hits, const std::vector<std::string>& qids,
                                    const retrieval::Judgements& judgements) {
  std::unordered_map<std::string, std::vector<std::string>> run;
  for (size_t q = 0; q < hits.size(); ++q) {
    auto& r = run[qids[q]];
    for (size_t j = 0; j < std::min(kEvalDepth, hits[q].size()); ++j)
      r.push_back(retrieval::canonical_id(std::to_string(hits[q][j].id)));
  }
  return retrieval::evaluate_run(qids, run, judgements);
}

// One printed row: the metrics, the judgements' match counts, what ran and how long it took.
nlohmann::json row_json(const EvalArgs& a, const EvalRow& row, const retrieval::EvalSummary& sum,
                        const retrieval::QrelsMatch& match, retrieval::GainMapping mapping, double total_seconds,
                        const bertrank_timings& t) {
  nlohmann::json out;
  out["ndcg@10"] = sum.ndcg10;
  out["mrr@10"] = sum.mrr10;
  out["recall@100"] = sum.recall100;
  out["queries"] = sum.queries;
  out["queries_without_judgements"] = sum.skipped;
  out["qrels"] = match.judgements;
  out["qrels_unknown_queries"] = match.unknown_queries;
  out["qrels_unknown_documents"] = match.unknown_documents;
  out["mode"] = row.mode;
  out["rerank_candidates"] = row.candidates;
  out["gains"] = retrieval::gain_mapping_name(mapping);
  out["seconds"] = {{"total", total_seconds},
                    {"embed", t.embed_seconds},
                    {"search", t.search_seconds},
                    {"rerank", t.rerank_seconds}};
  if (a.per_query)
    for (const auto& q : sum.per_query)
      out["per_query"].push_back({{"id", q.query_id}, {"ndcg@10", q.ndcg10}, {"mrr@10", q.mrr10},
                                  {"recall@100", q.recall100}});
  return out;
}

void run_eval(const EvalArgs& a) {
  const auto t0 = Clock::now();
  const TextEncoding encoding = parse_text_encoding(a.encoding, "--encoding");
  const Index idx = Index::load(a.index);
  const JudgedQueries j = read_judged_queries(a, encoding);
  const retrieval::QrelsMatch match = check_judgements(a, idx, j);
  const std::vector<EvalRow> rows = eval_rows(a);
  std::vector<std::string> texts, qids;
  for (const auto& q : j.queries) {
    texts.push_back(q.text);
    qids.push_back(q.id);
  }
  bertrank_timings t{};
  const auto results = run_rows(a, idx, rows, texts, &t);
  const bool reranked = std::any_of(rows.begin(), rows.end(), [](const EvalRow& r) { return r.candidates > 0; });
  const size_t pairs = reranked ? pairs_scored(results) : 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto sum = evaluate_row(results[r], qids, j.judgements);
    nlohmann::json out =
        row_json(a, rows[r], sum, match, j.mapping, std::chrono::duration<double>(Clock::now() - t0).count(), t);
    if (reranked) out["pairs_scored"] = pairs;
    std::cout << out.dump() << std::endl;
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand("eval", "NDCG@10, MRR@10 and Recall@100 of the pipeline on judged queries");
  add_eval_options(cmd, *a);
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace bertrank::cli

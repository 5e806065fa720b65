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
// one JSON line per (mode, candidates) pair, first-stage rows (candidates 0) included. Each
// distinct (query, document) pair is scored by the cross-encoder once, however many rows use
// it: a pair's score does not depend on the other candidates, so rerank@N of every N is the
// stable sort by score of the first N first-stage hits, the rest behind — exactly what
// `bertrank search --rerank` (api/pipeline.h) returns.
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
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include "common/utf8.h"
#include "retrieval/docs_io.h"
#include "retrieval/metrics.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

namespace {
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
}  // namespace

void add_eval_command(CLI::App& app) {
  struct Args {
    std::string index, model, queries, qrels, mode = "dense", rerank, precision = "fp32";
    std::string candidates, encoding = "utf-8";
    size_t nprobe = 0;
    int threads = 0;
    bool per_query = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "NDCG@10, MRR@10 and Recall@100 of the pipeline on judged queries");
  cmd->add_option("-i,--index", a->index, "Index file")->required();
  cmd->add_option("--queries", a->queries, "Queries: SMART file or jsonl {\"id\",\"text\"}")->required();
  cmd->add_option("--qrels", a->qrels, "Judgements: 'q d grade' or TREC 'q 0 d grade'")->required();
  cmd->add_option("--mode", a->mode, "First stage: dense, bm25 or hybrid (or a comma-separated list)");
  cmd->add_option("--rerank", a->rerank, "Cross-encoder model (.brm) for the second stage");
  cmd->add_option("--candidates", a->candidates,
                  "First-stage hits to rerank (default 100 with --rerank), or a list, e.g. 20,50,100");
  cmd->add_option("--nprobe", a->nprobe, "IVF lists to visit (default: the index's)");
  cmd->add_option("-m,--model", a->model, "Bi-encoder model file, if it moved since the index was built");
  cmd->add_option("--encoding", a->encoding,
                  "Queries and qrels files: utf-8 (default; invalid bytes become U+FFFD) or latin-1");
  add_threads_option(cmd, a->threads);
  add_precision_option(cmd, a->precision);
  cmd->add_flag("--per-query", a->per_query, "Also list each query's metrics");
  cmd->callback([a] {
    using clk = std::chrono::steady_clock;
    const auto t0 = clk::now();
    const TextEncoding encoding = parse_text_encoding(a->encoding, "--encoding");
    const Index idx = Index::load(a->index);
    retrieval::QueryFileFormat fmt;
    TextDecodeReport qrep, rrep;
    auto queries = retrieval::read_queries(a->queries, &fmt, encoding, &qrep);
    const auto qrels = retrieval::read_qrels_file(a->qrels, encoding, &rrep);
    for (const auto& w : {text_decode_warning("eval", "queries", qrep), text_decode_warning("eval", "judgements", rrep)})
      if (!w.empty()) std::fprintf(stderr, "%s\n", w.c_str());
    if (retrieval::resolve_query_numbering(queries, fmt, qrels, retrieval::QueryNumbering::numbering_auto) ==
        retrieval::QueryNumbering::numbering_ordinal)
      retrieval::renumber_queries_ordinal(queries);
    const auto mapping = retrieval::resolve_gain_mapping(qrels, retrieval::GainMapping::gain_auto);
    const auto judgements = retrieval::make_judgements(qrels, mapping);

    // Say what cannot match, before any model runs; refuse to print metrics of nothing.
    if (qrels.empty()) throw std::runtime_error("eval: the qrels file '" + a->qrels + "' holds no judgements");
    const auto match = retrieval::match_qrels(qrels, queries, [&](const std::string& id) {
      int64_t v = 0;
      try {
        v = retrieval::parse_doc_id(id, "qrels");
      } catch (const std::invalid_argument&) {
        return false;  // not an integer: no index id can equal it
      }
      return bertrank_index_document(idx.get(), v, nullptr, nullptr, nullptr) == BERTRANK_OK;
    });
    size_t judged_queries = 0;
    for (const auto& q : queries) judged_queries += judgements.relevant_count(q.id) > 0;
    const std::string n_of = std::to_string(match.judgements);
    const std::string unknown_q = std::to_string(match.unknown_queries) + " of " + n_of +
                                  " judgements name a query not in '" + a->queries + "' (first: '" +
                                  match.first_unknown_query + "')";
    const std::string unknown_d = std::to_string(match.unknown_documents) + " of " + n_of +
                                  " judgements name a document not in the index '" + a->index + "' (first: '" +
                                  match.first_unknown_document + "')";
    if (match.matched == 0) {
      std::string why;
      if (match.unknown_queries) why += "; " + unknown_q;
      if (match.unknown_documents) why += "; " + unknown_d;
      throw std::runtime_error("eval: no judgement of '" + a->qrels + "' names both a query of '" + a->queries +
                               "' and a document of the index" + why);
    }
    if (judged_queries == 0)
      throw std::runtime_error("eval: no query of '" + a->queries + "' has a relevant judgement (grade > 0) in '" +
                               a->qrels + "'");
    if (match.unknown_queries) std::fprintf(stderr, "eval: warning: %s\n", unknown_q.c_str());
    if (match.unknown_documents)
      std::fprintf(stderr, "eval: warning: %s; they are never retrieved, and a relevant one still counts in NDCG's ideal "
                   "ranking and in Recall (as in trec_eval)\n",
                   unknown_d.c_str());
    if (judged_queries < queries.size())
      std::fprintf(stderr, "eval: warning: %zu of %zu queries have no relevant judgement and are skipped\n",
                   queries.size() - judged_queries, queries.size());

    const std::vector<std::string> modes = parse_list<std::string>(a->mode, mode_name);
    std::vector<size_t> depths = {0};
    if (!a->rerank.empty()) {
      depths = a->candidates.empty() ? std::vector<size_t>{100} : parse_list<size_t>(a->candidates, parse_count);
      for (size_t d : depths)
        if (d == 0) throw std::invalid_argument("--candidates: counts must be > 0");
    } else if (!a->candidates.empty()) {
      throw std::invalid_argument("--candidates needs --rerank");
    }
    const bool many = modes.size() > 1 || depths.size() > 1;
    if (many && !a->rerank.empty()) depths.insert(depths.begin(), 0);  // first-stage rows too
    const size_t top = *std::max_element(depths.begin(), depths.end());
    const size_t K = 100;

    Model enc, ce;
    if (std::any_of(modes.begin(), modes.end(), [](const std::string& m) { return m != "bm25"; }))
      enc = load_index_model(idx.get(), a->model, a->precision);
    if (!a->rerank.empty()) ce = load_model(a->rerank, a->precision);
    std::vector<std::string> texts, qids;
    for (const auto& q : queries) {
      texts.push_back(q.text);
      qids.push_back(q.id);
    }

    // First stage of every mode, depth max(100, top).
    bertrank_timings first{};
    std::map<std::string, std::vector<std::vector<Hit>>> stage1;
    for (const auto& m : modes) {
      bertrank_search_params sp = bertrank_search_default_params();
      sp.mode = parse_mode(m);
      sp.k = std::max(K, top);
      sp.nprobe = a->nprobe;
      sp.num_threads = a->threads;
      bertrank_timings t{};
      stage1[m] = idx.search(texts, enc.get() ? &enc : nullptr, nullptr, sp, &t);
      first.embed_seconds += t.embed_seconds;
      first.search_seconds += t.search_seconds;
    }

    // Every distinct (query, document) pair among the top `top` of any mode, scored once.
    std::map<std::pair<size_t, int64_t>, float> score;
    double rerank_seconds = 0;
    if (top > 0) {
      for (const auto& [m, res] : stage1)
        for (size_t q = 0; q < res.size(); ++q)
          for (size_t j = 0; j < std::min(top, res[q].size()); ++j) score.emplace(std::make_pair(q, res[q][j].id), 0.f);
      std::vector<std::string> docs;
      std::vector<const char*> pa, pb;
      docs.reserve(score.size());
      for (const auto& [key, v] : score) {
        const char* text = nullptr;
        size_t text_len = 0;
        check(bertrank_index_document(idx.get(), key.second, &text, &text_len, nullptr));
        docs.emplace_back(text, text_len);
      }
      size_t k = 0;
      std::vector<size_t> la, lb;
      for (const auto& [key, v] : score) {
        pa.push_back(texts[key.first].c_str());
        la.push_back(texts[key.first].size());
        pb.push_back(docs[k].c_str());
        lb.push_back(docs[k++].size());
      }
      const bertrank_model_info ci = ce.info();
      std::vector<float> out(pa.size() * size_t(std::max(ci.num_labels, 1)));
      bertrank_score_params scp = bertrank_score_default_params();
      scp.num_threads = a->threads;
      const auto r0 = clk::now();
      check(bertrank_score_pairs(ce.get(), pa.data(), la.data(), pb.data(), lb.data(), pa.size(), &scp, out.data(),
                                 out.size()));
      rerank_seconds = std::chrono::duration<double>(clk::now() - r0).count();
      k = 0;
      for (auto& [key, v] : score) v = out[(k++) * size_t(std::max(ci.num_labels, 1))];  // the first label orders
    }

    for (const auto& m : modes)
      for (size_t depth : depths) {
        std::unordered_map<std::string, std::vector<std::string>> run;
        const auto& res = stage1[m];
        for (size_t q = 0; q < res.size(); ++q) {
          std::vector<Hit> hits = res[q];
          const size_t nc = std::min(depth, hits.size());
          if (nc > 0)  // stable: equal scores keep their first-stage order, as the pipeline does
            std::stable_sort(hits.begin(), hits.begin() + std::ptrdiff_t(nc), [&](const Hit& x, const Hit& y) {
              return score.at({q, x.id}) > score.at({q, y.id});
            });
          if (hits.size() > K) hits.resize(K);
          auto& r = run[qids[q]];
          for (const auto& h : hits) r.push_back(retrieval::canonical_id(std::to_string(h.id)));
        }
        const auto sum = retrieval::evaluate_run(qids, run, judgements);
        nlohmann::json out;
        out["ndcg@10"] = sum.ndcg10;
        out["mrr@10"] = sum.mrr10;
        out["recall@100"] = sum.recall100;
        out["queries"] = sum.queries;
        out["queries_without_judgements"] = sum.skipped;
        out["qrels"] = match.judgements;
        out["qrels_unknown_queries"] = match.unknown_queries;
        out["qrels_unknown_documents"] = match.unknown_documents;
        out["mode"] = m;
        out["rerank_candidates"] = depth;
        out["gains"] = retrieval::gain_mapping_name(mapping);
        out["seconds"] = {{"total", std::chrono::duration<double>(clk::now() - t0).count()},
                          {"embed", first.embed_seconds},
                          {"search", first.search_seconds},
                          {"rerank", rerank_seconds}};
        if (top > 0) out["pairs_scored"] = score.size();
        if (a->per_query)
          for (const auto& q : sum.per_query)
            out["per_query"].push_back({{"id", q.query_id}, {"ndcg@10", q.ndcg10}, {"mrr@10", q.mrr10},
                                        {"recall@100", q.recall100}});
        std::cout << out.dump() << std::endl;
      }
  });
}

}  // namespace bertrank::cli

// `bertrank eval -i <index> --queries <file> --qrels <file> [--mode dense|bm25|hybrid]
//                [--rerank <cross-encoder .brm> --candidates N]`:
// runs every query through the pipeline (retrieval/pipeline.h) at depth 100 and prints one
// JSON object {"ndcg@10","mrr@10","recall@100","queries",...} (retrieval/metrics.h has the
// definitions: graded gains for Cranfield's grades, binary otherwise; queries without a
// relevant judgement are skipped and counted). Queries: SMART (.I/.W) or jsonl {"id","text"};
// qrels: "q d grade" or TREC "q 0 d grade". Cranfield's qrels number queries by their order in
// the file; that is detected (see metrics.h).
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "retrieval/metrics.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

void add_eval_command(CLI::App& app) {
  struct Args {
    std::string index, model, queries, qrels, mode = "dense", rerank, precision = "fp32";
    size_t candidates = 0, nprobe = 0;
    int threads = 0;
    bool per_query = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "NDCG@10, MRR@10 and Recall@100 of the pipeline on judged queries");
  cmd->add_option("-i,--index", a->index, "Index file")->required();
  cmd->add_option("--queries", a->queries, "Queries: SMART file or jsonl {\"id\",\"text\"}")->required();
  cmd->add_option("--qrels", a->qrels, "Judgements: 'q d grade' or TREC 'q 0 d grade'")->required();
  cmd->add_option("--mode", a->mode, "First stage: dense, bm25 or hybrid")
      ->check(CLI::IsMember({"dense", "bm25", "hybrid"}));
  cmd->add_option("--rerank", a->rerank, "Cross-encoder model (.brm) for the second stage");
  cmd->add_option("--candidates", a->candidates, "First-stage hits to rerank (default 100 with --rerank)");
  cmd->add_option("--nprobe", a->nprobe, "IVF lists to visit (default: the index's)");
  cmd->add_option("-m,--model", a->model, "Bi-encoder model file, if it moved since the index was built");
  add_threads_option(cmd, a->threads);
  add_precision_option(cmd, a->precision);
  cmd->add_flag("--per-query", a->per_query, "Also list each query's metrics");
  cmd->callback([a] {
    using clk = std::chrono::steady_clock;
    const auto t0 = clk::now();
    const Index idx = Index::load(a->index);
    retrieval::QueryFileFormat fmt;
    auto queries = retrieval::read_queries(a->queries, &fmt);
    const auto qrels = retrieval::read_qrels_file(a->qrels);
    if (retrieval::resolve_query_numbering(queries, fmt, qrels, retrieval::QueryNumbering::numbering_auto) ==
        retrieval::QueryNumbering::numbering_ordinal)
      retrieval::renumber_queries_ordinal(queries);
    const auto mapping = retrieval::resolve_gain_mapping(qrels, retrieval::GainMapping::gain_auto);
    const auto judgements = retrieval::make_judgements(qrels, mapping);

    bertrank_search_params sp = bertrank_search_default_params();
    sp.mode = parse_mode(a->mode);
    sp.k = 100;
    sp.nprobe = a->nprobe;
    sp.num_threads = a->threads;
    sp.rerank.num_threads = a->threads;
    Model enc, ce;
    if (sp.mode != BERTRANK_SEARCH_BM25) enc = load_index_model(idx.get(), a->model, a->precision);
    if (!a->rerank.empty()) {
      ce = load_model(a->rerank, a->precision);
      sp.candidates = a->candidates ? a->candidates : 100;
    }
    std::vector<std::string> texts, qids;
    for (const auto& q : queries) {
      texts.push_back(q.text);
      qids.push_back(q.id);
    }
    bertrank_timings pt{};
    const auto results = idx.search(texts, enc.get() ? &enc : nullptr, ce.get() ? &ce : nullptr, sp, &pt);
    std::unordered_map<std::string, std::vector<std::string>> run;
    for (size_t i = 0; i < results.size(); ++i) {
      auto& r = run[qids[i]];
      for (const auto& h : results[i]) r.push_back(retrieval::canonical_id(std::to_string(h.id)));
    }
    const auto sum = retrieval::evaluate_run(qids, run, judgements);
    nlohmann::json out;
    out["ndcg@10"] = sum.ndcg10;
    out["mrr@10"] = sum.mrr10;
    out["recall@100"] = sum.recall100;
    out["queries"] = sum.queries;
    out["queries_without_judgements"] = sum.skipped;
    out["mode"] = a->mode;
    out["rerank_candidates"] = sp.candidates;
    out["gains"] = retrieval::gain_mapping_name(mapping);
    out["seconds"] = {{"total", std::chrono::duration<double>(clk::now() - t0).count()},
                      {"embed", pt.embed_seconds},
                      {"search", pt.search_seconds},
                      {"rerank", pt.rerank_seconds}};
    if (a->per_query)
      for (const auto& q : sum.per_query)
        out["per_query"].push_back({{"id", q.query_id}, {"ndcg@10", q.ndcg10}, {"mrr@10", q.mrr10},
                                    {"recall@100", q.recall100}});
    std::cout << out.dump() << std::endl;
  });
}

}  // namespace bertrank::cli

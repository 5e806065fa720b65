// `bertrank rerank -m <cross-encoder .brm> -q "query" [--top-k K] [--activation none|sigmoid]
//                  [--window N [--stride S]] [FILE]`:
// scores "[CLS] query [SEP] document [SEP]" for every document (one per line of FILE or stdin)
// and writes {"index":i,"score":s} JSON lines, best first (index = the line number, from 0).
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <numeric>
#include <nlohmann/json.hpp>

#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

void add_rerank_command(CLI::App& app) {
  struct Args {
    std::string model, query, input, activation = "none", precision = "fp32";
    size_t top_k = 0;
    int window = 0, stride = 0, threads = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("rerank", "Score documents against a query with a cross-encoder, best first");
  cmd->add_option("-m,--model", a->model, "Cross-encoder model (.brm)")->required();
  cmd->add_option("-q,--query", a->query, "Query text")->required();
  cmd->add_option("-k,--top-k", a->top_k, "Print only the best K (default: all)");
  cmd->add_option("--activation", a->activation, "none (raw logits, default), sigmoid, softmax")
      ->check(CLI::IsMember({"none", "sigmoid", "softmax"}));
  cmd->add_option("--window", a->window,
                  "Split documents longer than N word pieces into overlapping windows; score = max (default: off)");
  cmd->add_option("--stride", a->stride, "Window start every S word pieces (default: N/2)");
  add_threads_option(cmd, a->threads);
  add_precision_option(cmd, a->precision);
  cmd->add_option("input", a->input, "Documents, one per line (default: stdin)");
  cmd->callback([a] {
    const Model ce = load_model(a->model, a->precision);
    const bertrank_model_info mi = ce.info();
    if (mi.kind != BERTRANK_MODEL_CROSS_ENCODER)
      throw std::runtime_error("'" + a->model + "' is a bi-encoder; rerank needs a cross-encoder");
    const std::vector<std::string> docs = read_lines(a->input);
    bertrank_score_params sp = bertrank_score_default_params();
    sp.activation = parse_activation(a->activation);
    sp.window_length = a->window;
    sp.window_stride = a->stride;
    sp.num_threads = a->threads;
    const size_t stride = a->window > 0 ? 1 : size_t(mi.num_labels);
    const std::vector<float> s = ce.score(a->query, docs, sp);
    std::vector<size_t> order(docs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return s[x * stride] > s[y * stride]; });
    if (a->top_k > 0 && order.size() > a->top_k) order.resize(a->top_k);
    for (size_t i : order) {
      nlohmann::json h;
      h["index"] = i;
      h["score"] = s[i * stride];
      if (stride > 1) h["scores"] = std::vector<float>(s.begin() + std::ptrdiff_t(i * stride),
                                                       s.begin() + std::ptrdiff_t((i + 1) * stride));
      std::cout << h.dump() << "\n";
    }
    std::cout.flush();
  });
}

}  // namespace bertrank::cli

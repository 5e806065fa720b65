// Embed a query and a few documents with a bi-encoder, rank them by cosine, then rerank them
// with a cross-encoder — through the header-only C++ wrapper (RAII, exceptions).
//   ./embed_rerank_cpp weights/all-MiniLM-L6-v2.brm weights/ms-marco-MiniLM-L-12-v2.brm
#include <bertrank/bertrank.hpp>

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

int main(int argc, char** argv) try {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s ENCODER.brm RERANKER.brm\n", argv[0]);
    return 2;
  }
  const bertrank::Model encoder(argv[1]), reranker(argv[2]);
  const std::string query = "how do I compress files into an archive";
  const std::vector<std::string> docs = {"tar and gzip bundle files into a compressed archive",
                                         "a debugger steps through a running program",
                                         "zip creates archives that compress many files",
                                         "JSON is a text format for structured data"};

  // First stage: cosine of L2-normalised embeddings (row 0 is the query).
  std::vector<std::string> texts{query};
  texts.insert(texts.end(), docs.begin(), docs.end());
  const std::vector<float> emb = encoder.embed(texts);
  const size_t d = size_t(encoder.dim());
  std::vector<float> cosine(docs.size());
  for (size_t i = 0; i < docs.size(); ++i)
    cosine[i] = std::inner_product(emb.begin(), emb.begin() + d, emb.begin() + (i + 1) * d, 0.0f);

  // Second stage: the cross-encoder scores every (query, document) pair; best first.
  const std::vector<float> score = reranker.score(query, docs);
  std::vector<size_t> order(docs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] > score[b]; });

  std::printf("bertrank %s, kernels %s, dim %zu\nquery: %s\n", bertrank_version(), bertrank_isa(), d,
              query.c_str());
  for (size_t i : order) std::printf("  rerank %+.4f  cosine %+.4f  %s\n", score[i], cosine[i], docs[i].c_str());
  return 0;
} catch (const bertrank::Error& e) {
  std::fprintf(stderr, "bertrank error (%s): %s\n", bertrank_status_string(e.status()), e.what());
  return 1;
}

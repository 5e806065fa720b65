/* Embed a query and a few documents with a bi-encoder, rank them by cosine, then rerank them
 * with a cross-encoder. C99 against the public C API only.
 *   ./embed_rerank weights/all-MiniLM-L6-v2.brm weights/ms-marco-MiniLM-L-12-v2.brm */
#include <bertrank/bertrank.h>
#include <stdio.h>
#include <stdlib.h>

#define N 4
static const char* query = "how do I compress files into an archive";
static const char* docs[N] = {"tar and gzip bundle files into a compressed archive",
                              "a debugger steps through a running program",
                              "zip creates archives that compress many files",
                              "JSON is a text format for structured data"};

static int fail(const char* what) {
  fprintf(stderr, "%s: %s\n", what, bertrank_last_error());
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s ENCODER.brm RERANKER.brm\n", argv[0]);
    return 2;
  }
  bertrank_model *enc = NULL, *ce = NULL;
  bertrank_model_info info;
  if (bertrank_model_load(argv[1], NULL, &enc) != BERTRANK_OK) return fail("load encoder");
  if (bertrank_model_load(argv[2], NULL, &ce) != BERTRANK_OK) return fail("load reranker");
  bertrank_model_get_info(enc, &info);
  printf("bertrank %s (header %s), kernels %s, dim %d\n", bertrank_version(), BERTRANK_VERSION_STRING,
         bertrank_isa(), info.dim);

  /* Row 0 is the query, rows 1..N the documents; embeddings are L2-normalised. */
  const char* texts[N + 1] = {query, docs[0], docs[1], docs[2], docs[3]};
  size_t d = (size_t)info.dim;
  float* emb = malloc((N + 1) * d * sizeof(float));
  float scores[N];
  if (!emb) return 1;
  if (bertrank_embed(enc, texts, NULL, N + 1, NULL, emb, (N + 1) * d, NULL) != BERTRANK_OK)
    return fail("embed");
  if (bertrank_score(ce, query, BERTRANK_NUL_TERMINATED, docs, NULL, N, NULL, scores, N) != BERTRANK_OK) return fail("score");

  printf("query: %s\n", query);
  for (int i = 0; i < N; ++i) {
    float cos = 0;
    for (size_t j = 0; j < d; ++j) cos += emb[j] * emb[(size_t)(i + 1) * d + j];
    printf("  rerank %+.4f  cosine %+.4f  %s\n", scores[i], cos, docs[i]);
  }
  free(emb);
  bertrank_model_free(ce);
  bertrank_model_free(enc);
  return 0;
}

/* bertrank.h — the public C API of bertrank: BERT bi-encoders, cross-encoders, a vector + BM25
 * index and the retrieve-then-rerank pipeline on CPUs.
 *
 *   bertrank_model* m = NULL;
 *   bertrank_model_params mp = bertrank_model_default_params();
 *   if (bertrank_model_load("weights/all-MiniLM-L6-v2.brm", &mp, &m) != BERTRANK_OK) {
 *     fprintf(stderr, "%s\n", bertrank_last_error());
 *     return 1;
 *   }
 *   const char* texts[] = {"hello world", "CPU retrieval"};
 *   float out[2 * 384];
 *   bertrank_embed_params ep = bertrank_embed_default_params();
 *   bertrank_embed(m, texts, NULL, 2, &ep, out, 2 * 384, NULL);
 *   bertrank_model_free(m);
 *
 * Conventions
 *   - Every function that can fail returns a bertrank_status. On failure, bertrank_last_error()
 *     returns a message naming what is wrong (the file and field, the argument, the buffer size
 *     needed); it is kept per thread until that thread's next failing call. No C++ exception
 *     ever crosses this boundary.
 *   - Handles are opaque. Every call checks its handles against the set of live handles, so a
 *     NULL handle, a pointer that is not a bertrank handle, a handle of the wrong type, and a
 *     handle used after its *_free() give BERTRANK_ERR_INVALID_HANDLE, not a crash — unless the
 *     allocator has since reused the address for a new handle of the same type. *_free(NULL)
 *     does nothing; freeing an unknown or already freed pointer is ignored and reported by
 *     bertrank_last_error().
 *   - A call holds a reference on each handle it was given until it returns, so a *_free() on
 *     another thread while the call runs is safe: the handle is unregistered at once (calls
 *     that start later get BERTRANK_ERR_INVALID_HANDLE) and deleted when the last running call
 *     returns. Pointers a call returned into a handle (names, paths, document texts) are
 *     valid only until that handle is freed.
 *   - Output buffers belong to the caller, who passes their capacity in elements; a buffer
 *     that is too small gives BERTRANK_ERR_BUFFER_TOO_SMALL and nothing is written.
 *   - Texts are UTF-8, passed with their length in bytes, so nothing is cut at an embedded NUL.
 *     Every text argument has a length: `lengths` arrays are optional (NULL: every text is
 *     NUL-terminated; otherwise lengths[i] bytes of texts[i] are read, embedded NULs kept, and
 *     an entry may be BERTRANK_NUL_TERMINATED); a single text's length may be
 *     BERTRANK_NUL_TERMINATED. Invalid UTF-8 is not an error: bytes that do not decode become
 *     U+FFFD, as Hugging Face tokenizers do (which then drop it, as they drop U+0000).
 *   - Sizes are size_t; products (n × dim, nq × k) are overflow-checked and refused with
 *     BERTRANK_ERR_INVALID_ARGUMENT. Memory a call allocates is bounded by the model and the
 *     index, never by a count alone: k and candidates beyond the index's size are capped at it
 *     (the caller's own output buffer still has nq × k entries, padded).
 *
 * Thread safety
 *   - A loaded bertrank_model is immutable: any number of threads may call embed, score and
 *     tokenize on the same model at the same time. Scratch memory is per call; the weights are
 *     memory-mapped once and shared.
 *   - A bertrank_index may be searched (search, pipeline, document, size, info) from many
 *     threads at once; add, remove and save need the caller to hold it exclusively.
 *   - num_threads in the params structs is the number of threads one call may use (0: the
 *     process default, OMP_NUM_THREADS or the number of CPUs), capped at the number of online
 *     CPUs (more only oversubscribes); negative is BERTRANK_ERR_INVALID_ARGUMENT. Worker threads
 *     sleep when idle.
 *
 * Versioning: BERTRANK_VERSION_* is the version of this header; bertrank_version() that of the
 * library linked. The API is C99; the library is C++17 inside.
 */
#ifndef BERTRANK_BERTRANK_H
#define BERTRANK_BERTRANK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BERTRANK_VERSION_MAJOR 0
#define BERTRANK_VERSION_MINOR 4
#define BERTRANK_VERSION_PATCH 0
#define BERTRANK_VERSION_STRING "0.4.0"

/* A text length meaning "up to the terminating NUL". */
#define BERTRANK_NUL_TERMINATED ((size_t)-1)

#if defined(_WIN32)
#define BERTRANK_API
#elif defined(__GNUC__)
#define BERTRANK_API __attribute__((visibility("default")))
#else
#define BERTRANK_API
#endif

/* ---- Status and errors ------------------------------------------------------------------ */

typedef enum bertrank_status {
  BERTRANK_OK = 0,
  BERTRANK_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a bad size, an unknown option value */
  BERTRANK_ERR_INVALID_HANDLE = 2,   /* NULL, freed, or not a handle of the expected type */
  BERTRANK_ERR_BUFFER_TOO_SMALL = 3, /* the output capacity is smaller than needed */
  BERTRANK_ERR_IO = 4,               /* a file could not be opened, read or written */
  BERTRANK_ERR_BAD_FILE = 5,         /* a model / index / checkpoint file is corrupt or invalid */
  BERTRANK_ERR_WRONG_MODEL = 6,      /* a model of the wrong kind for the call, or an index
                                        built with another model */
  BERTRANK_ERR_UNSUPPORTED = 7,      /* an option this build or CPU cannot run */
  BERTRANK_ERR_OUT_OF_MEMORY = 8,
  BERTRANK_ERR_INTERNAL = 9
} bertrank_status;

/* The message of this thread's last failing call ("" if none). Valid until this thread's next
 * bertrank call. */
BERTRANK_API const char* bertrank_last_error(void);
/* A fixed name for a status: "ok", "invalid argument", ... */
BERTRANK_API const char* bertrank_status_string(bertrank_status status);

/* ---- Library ---------------------------------------------------------------------------- */

/* "0.4.0": the version of the library linked (compare with BERTRANK_VERSION_STRING). */
BERTRANK_API const char* bertrank_version(void);
BERTRANK_API int bertrank_version_number(void); /* major * 10000 + minor * 100 + patch */
/* The kernel instruction set in use: "ref", "avx2" or "avx512" (BERTRANK_ISA forces one). */
BERTRANK_API const char* bertrank_isa(void);
/* 1 if this CPU has the instruction set and this build has kernels for it ("ref", "avx2",
 * "avx512"), else 0. */
BERTRANK_API int bertrank_isa_available(const char* isa);
/* The most threads one call uses: the number of online CPUs (num_threads above it is capped). */
BERTRANK_API int bertrank_max_threads(void);

/* ---- Models ----------------------------------------------------------------------------- */

typedef struct bertrank_model bertrank_model;

typedef enum bertrank_precision {
  BERTRANK_PRECISION_FP32 = 0,
  BERTRANK_PRECISION_INT8 = 1, /* per-channel int8 weights, per-token int8 activations */
  BERTRANK_PRECISION_BF16 = 2
} bertrank_precision;

typedef struct bertrank_model_params {
  bertrank_precision precision; /* weights of the linear layers; default FP32 */
} bertrank_model_params;

typedef enum bertrank_model_kind {
  BERTRANK_MODEL_EMBEDDING = 1,    /* bi-encoder: pooled (and normalised) embeddings */
  BERTRANK_MODEL_CROSS_ENCODER = 2 /* pooler + classifier: one score per (query, document) */
} bertrank_model_kind;

typedef struct bertrank_model_info {
  bertrank_model_kind kind;
  int dim;            /* embedding size (hidden size) */
  int num_labels;     /* cross-encoder outputs per pair; 0 for an embedding model */
  int max_length;     /* default truncation in word pieces, incl. special tokens */
  int num_layers;
  int vocab_size;
  bertrank_precision precision;
  const char* name;        /* the source checkpoint's name; valid while the model lives */
  const char* fingerprint; /* "sha256:..." of the source weights; valid while the model lives */
  const char* path;        /* absolute path of the file loaded; valid while the model lives */
} bertrank_model_info;

BERTRANK_API bertrank_model_params bertrank_model_default_params(void);
/* Maps and validates a .brm file (header, checksum, config, every tensor); a corrupt file is
 * refused here with BERTRANK_ERR_BAD_FILE naming what is wrong. params may be NULL. */
BERTRANK_API bertrank_status bertrank_model_load(const char* path, const bertrank_model_params* params,
                                                 bertrank_model** out_model);
BERTRANK_API void bertrank_model_free(bertrank_model* model);
BERTRANK_API bertrank_status bertrank_model_get_info(const bertrank_model* model, bertrank_model_info* out_info);

/* Hugging Face checkpoint folder (config.json, model.safetensors, tokenizer files,
 * sentence-transformers files) -> one .brm file, written atomically. name may be NULL. */
BERTRANK_API bertrank_status bertrank_convert(const char* hf_dir, const char* out_path, const char* name);

/* ---- Embedding (bi-encoder) ------------------------------------------------------------- */

typedef struct bertrank_embed_params {
  int num_threads;      /* 0: process default */
  int max_length;       /* 0: the model's max_seq_length */
  int max_batch_tokens; /* tokens per forward pass (memory bound; never changes results) */
  int normalize;        /* -1 (the default): as the model says (sentence-transformers' Normalize
                           module); 0: the raw pooled vector; 1: L2-normalised. Other values:
                           BERTRANK_ERR_INVALID_ARGUMENT */
} bertrank_embed_params;

BERTRANK_API bertrank_embed_params bertrank_embed_default_params(void);
/* out: capacity out_len floats, at least n * dim; row i is the embedding of texts[i].
 * out_truncated: NULL, or n bytes set to 1 where truncation dropped word pieces.
 * Needs an embedding model (BERTRANK_ERR_WRONG_MODEL otherwise). params may be NULL. */
BERTRANK_API bertrank_status bertrank_embed(const bertrank_model* model, const char* const* texts,
                                            const size_t* lengths, size_t n, const bertrank_embed_params* params,
                                            float* out, size_t out_len, uint8_t* out_truncated);

/* ---- Scoring (cross-encoder) ------------------------------------------------------------ */

typedef enum bertrank_activation {
  BERTRANK_ACTIVATION_NONE = 0, /* raw logits (what the ms-marco cross-encoders intend) */
  BERTRANK_ACTIVATION_SIGMOID = 1,
  BERTRANK_ACTIVATION_SOFTMAX = 2
} bertrank_activation;

typedef struct bertrank_score_params {
  int num_threads;
  int max_length;    /* 0: the model's (512 for the ms-marco cross-encoders) */
  bertrank_activation activation;
  int window_length; /* > 0: split long documents into windows of this many word pieces and
                        score the max over windows (needs num_labels = 1); 0: off */
  int window_stride; /* 0: window_length / 2 */
  int max_batch_tokens;
} bertrank_score_params;

BERTRANK_API bertrank_score_params bertrank_score_default_params(void);
/* Scores "[CLS] query [SEP] docs[i] [SEP]" for i < n. query_len: bytes of query, or
 * BERTRANK_NUL_TERMINATED. out: capacity out_len floats, at least n * num_labels (n with
 * windows). Needs a cross-encoder model. params may be NULL. */
BERTRANK_API bertrank_status bertrank_score(const bertrank_model* model, const char* query, size_t query_len,
                                            const char* const* docs, const size_t* doc_lengths, size_t n,
                                            const bertrank_score_params* params, float* out, size_t out_len);
/* Same for n independent pairs (a[i], b[i]); a_lengths / b_lengths may be NULL. */
BERTRANK_API bertrank_status bertrank_score_pairs(const bertrank_model* model, const char* const* a,
                                                  const size_t* a_lengths, const char* const* b,
                                                  const size_t* b_lengths, size_t n,
                                                  const bertrank_score_params* params, float* out, size_t out_len);

/* ---- Tokenization ----------------------------------------------------------------------- */

typedef struct bertrank_tokenizer bertrank_tokenizer;

/* path: a .brm model file, a vocab.txt, or a Hugging Face model folder. */
BERTRANK_API bertrank_status bertrank_tokenizer_load(const char* path, bertrank_tokenizer** out_tokenizer);
/* The tokenizer of a loaded model (a new handle; free it with bertrank_tokenizer_free). */
BERTRANK_API bertrank_status bertrank_model_tokenizer(const bertrank_model* model, bertrank_tokenizer** out_tokenizer);
BERTRANK_API void bertrank_tokenizer_free(bertrank_tokenizer* tokenizer);

/* "[CLS] text [SEP]", or with text_pair != NULL "[CLS] text [SEP] text_pair [SEP]", truncated
 * longest_first to max_length (0: no truncation), identical to Hugging Face tokenizers.
 * text_len / pair_len: bytes of each text, or BERTRANK_NUL_TERMINATED (pair_len is ignored
 * when text_pair is NULL). Writes up to capacity entries to ids, type_ids (may be NULL) and
 * offsets (may be NULL; 2 * capacity int32: start and end of each token in its own text,
 * counted in Unicode code points (characters, as Python's str indexes them and as
 * tokenizers' Python API reports them), not bytes; 0 0 for specials).
 * *out_len receives the number of tokens; if it exceeds capacity, nothing is written and
 * BERTRANK_ERR_BUFFER_TOO_SMALL is returned (call again with capacity >= *out_len). */
BERTRANK_API bertrank_status bertrank_tokenize(const bertrank_tokenizer* tokenizer, const char* text, size_t text_len,
                                               const char* text_pair, size_t pair_len, int max_length,
                                               int32_t* ids, int32_t* type_ids, int32_t* offsets,
                                               size_t capacity, size_t* out_len);

/* The vocabulary entry of id ("[CLS]", "##ing"): *out_token points into the tokenizer (valid
 * while it lives), *out_len its bytes (out_len may be NULL). BERTRANK_ERR_INVALID_ARGUMENT
 * outside [0, vocab size). */
BERTRANK_API bertrank_status bertrank_tokenizer_id_to_token(const bertrank_tokenizer* tokenizer, int32_t id,
                                                            const char** out_token, size_t* out_len);

/* ---- Index ------------------------------------------------------------------------------ */

typedef struct bertrank_index bertrank_index;

typedef enum bertrank_index_type { BERTRANK_INDEX_FLAT = 0, BERTRANK_INDEX_IVF = 1 } bertrank_index_type;
typedef enum bertrank_storage {
  BERTRANK_STORAGE_F32 = 0,
  BERTRANK_STORAGE_F16 = 1,
  BERTRANK_STORAGE_INT8 = 2 /* with exact re-scoring of the top candidates */
} bertrank_storage;

typedef struct bertrank_index_params {
  bertrank_index_type type;
  bertrank_storage storage;
  int bm25;      /* 1: also keep a BM25 index over the texts (for bm25 and hybrid search) */
  size_t nlist;  /* IVF: number of lists; 0 = about 4 * sqrt(n) of the first add */
  size_t nprobe; /* IVF default lists searched; 0 = 8 */
  int rescore;   /* int8 storage: keep exact copies to re-score the top candidates (default 1) */
  float bm25_k1; /* BM25 parameters (defaults 1.2, 0.75, English stop words removed) */
  float bm25_b;
  int bm25_stopwords;
} bertrank_index_params;

BERTRANK_API bertrank_index_params bertrank_index_default_params(void);
/* An empty index for the embeddings of `model` (its dimension and fingerprint are recorded, so
 * that searching it later with another model is refused). params may be NULL. */
BERTRANK_API bertrank_status bertrank_index_create(const bertrank_model* model, const bertrank_index_params* params,
                                                   bertrank_index** out_index);
/* Loads an index file (validated; mmap != 0 maps the vectors instead of reading them). */
BERTRANK_API bertrank_status bertrank_index_load(const char* path, int mmap, bertrank_index** out_index);
/* Writes atomically (a temporary file renamed over path): a failure leaves path as it was. */
BERTRANK_API bertrank_status bertrank_index_save(const bertrank_index* index, const char* path);
BERTRANK_API void bertrank_index_free(bertrank_index* index);

/* Embeds texts with `model` (which must be the index's model) and adds them under ids (>= 0,
 * not present yet). text_lengths may be NULL (NUL-terminated texts). metas: NULL or n
 * JSON-object texts, NUL-terminated ("" or NULL for none). All or nothing: on any error the
 * index is unchanged. params may be NULL. */
BERTRANK_API bertrank_status bertrank_index_add_texts(bertrank_index* index, const bertrank_model* model,
                                                      const int64_t* ids, const char* const* texts,
                                                      const size_t* text_lengths, const char* const* metas,
                                                      size_t n, const bertrank_embed_params* params);
/* BERTRANK_OK if `model` is the embedding model the index was built with (same source
 * fingerprint), else BERTRANK_ERR_WRONG_MODEL naming both. */
BERTRANK_API bertrank_status bertrank_index_check_model(const bertrank_index* index, const bertrank_model* model);
/* Adds precomputed vectors (n * dim floats); texts, text_lengths and metas may be NULL. */
BERTRANK_API bertrank_status bertrank_index_add_vectors(bertrank_index* index, const int64_t* ids,
                                                        const float* vectors, const char* const* texts,
                                                        const size_t* text_lengths, const char* const* metas,
                                                        size_t n);
/* Removes the ids present; *out_removed (may be NULL) receives how many were. */
BERTRANK_API bertrank_status bertrank_index_remove(bertrank_index* index, const int64_t* ids, size_t n,
                                                   size_t* out_removed);
BERTRANK_API size_t bertrank_index_size(const bertrank_index* index); /* 0 for a bad handle */
BERTRANK_API int bertrank_index_dim(const bertrank_index* index);     /* 0 for a bad handle */
/* The path of the model the index was built with, as recorded at creation ("" if unknown, NULL
 * for a bad handle); valid while the index lives. */
BERTRANK_API const char* bertrank_index_model_path(const bertrank_index* index);
/* Records where the index's model now lives (e.g. after moving it); saved with the index. */
BERTRANK_API bertrank_status bertrank_index_set_model_path(bertrank_index* index, const char* path);
/* The text (out_text_len bytes, NUL-terminated; it may hold NULs) and metadata (JSON or "")
 * of document id; each out pointer may be NULL. Pointers valid until the index is changed or
 * freed. BERTRANK_ERR_INVALID_ARGUMENT if id is not in the index. */
BERTRANK_API bertrank_status bertrank_index_document(const bertrank_index* index, int64_t id, const char** out_text,
                                                     size_t* out_text_len, const char** out_meta);

/* The ids of the index's documents, ascending (the largest is the last). out: capacity entries;
 * *out_n (required) receives the number of documents; if it exceeds capacity, nothing is written
 * and BERTRANK_ERR_BUFFER_TOO_SMALL is returned (call again with capacity >= *out_n; out may be
 * NULL when capacity is 0). */
BERTRANK_API bertrank_status bertrank_index_ids(const bertrank_index* index, int64_t* out, size_t capacity,
                                                size_t* out_n);

/* What an index holds: what `bertrank index info` prints. */
typedef struct bertrank_index_info {
  size_t documents; /* each with its vector */
  int dim;
  bertrank_index_type type;
  bertrank_storage storage;
  int rescore;   /* 1: int8 storage keeping exact copies to re-score the top candidates */
  size_t nlist;  /* IVF: number of lists (before the first add: as created, 0 = not chosen yet);
                    flat: 0 */
  size_t nprobe; /* IVF: lists searched by default (before the first add: as created); flat: 0 */
  int bm25;      /* 1 if the index has a BM25 part; else 0, and so are the bm25_* fields */
  float bm25_k1, bm25_b;
  int bm25_stopwords;     /* 1: English stop words removed */
  size_t bm25_vocabulary; /* distinct terms */
  const char* model_fingerprint; /* "sha256:..." of the model the index was built with */
  const char* model_path;        /* as bertrank_index_model_path */
} bertrank_index_info;

/* Fills *out_info. Its pointers are valid until the index is changed or freed. */
BERTRANK_API bertrank_status bertrank_index_get_info(const bertrank_index* index, bertrank_index_info* out_info);

/* ---- Search and the retrieve-then-rerank pipeline --------------------------------------- */

typedef enum bertrank_search_mode {
  BERTRANK_SEARCH_DENSE = 0,  /* bi-encoder + vector index */
  BERTRANK_SEARCH_BM25 = 1,   /* BM25 only (no encoder needed) */
  BERTRANK_SEARCH_HYBRID = 2  /* reciprocal rank fusion of dense and BM25 */
} bertrank_search_mode;

typedef struct bertrank_search_params {
  bertrank_search_mode mode;
  size_t k;          /* hits per query (> 0); default 10. Beyond the index's size only padding */
  size_t candidates; /* rerank this many first-stage hits with the cross-encoder; 0: no rerank;
                        beyond the index's size: all of them */
  size_t nprobe;     /* IVF lists to search; 0: the index's default */
  size_t rescore_factor; /* int8 storage: re-score the best k * factor exactly; 0: 8 */
  bertrank_score_params rerank; /* how the cross-encoder scores (activation, windows, ...) */
  int num_threads;   /* for the query encoder; 0: process default */
} bertrank_search_params;

typedef struct bertrank_hit {
  int64_t id;              /* -1 in the padding after the last hit */
  float score;             /* final score: the cross-encoder's if reranked, else the first stage's */
  float first_stage_score; /* cosine, BM25 or RRF score */
  int reranked;            /* 1 if score comes from the cross-encoder */
} bertrank_hit;

typedef struct bertrank_timings {
  double embed_seconds, search_seconds, rerank_seconds;
} bertrank_timings;

BERTRANK_API bertrank_search_params bertrank_search_default_params(void);
/* For each of the nq queries, the first stage (params->mode) and, with candidates > 0, the
 * cross-encoder on its top `candidates`; the reranked hits come first, then the rest of the
 * first stage, cut to k. query_lengths may be NULL (NUL-terminated queries). out: capacity
 * out_len hits, at least nq * k; query q's hits are out[q*k .. q*k+k), padded with id -1.
 * encoder: the index's embedding model (may be NULL for BM25); reranker: a cross-encoder (may
 * be NULL without candidates). timings may be NULL. */
BERTRANK_API bertrank_status bertrank_search(const bertrank_index* index, const bertrank_model* encoder,
                                             const bertrank_model* reranker, const char* const* queries,
                                             const size_t* query_lengths, size_t nq,
                                             const bertrank_search_params* params, bertrank_hit* out,
                                             size_t out_len, bertrank_timings* timings);

/* n_runs searches of the same nq queries in one call (an evaluation: every mode, every rerank
 * depth). Run r is exactly what bertrank_search(..., &runs[r], ...) returns, written at
 * out + nq * (runs[0].k + ... + runs[r-1].k); out_len must hold nq * (runs[0].k + ... +
 * runs[n_runs-1].k) hits. What runs have in common is done once: the queries are embedded once,
 * runs with the same first stage (mode, nprobe, rescore_factor and depth max(k, candidates))
 * share one search, and the cross-encoder scores each distinct (query, document) pair once
 * for all runs with the same rerank params (a pair's score does not depend on the other
 * candidates, so rerank@N is the stable sort of the first N first-stage hits by score for
 * every N). The call runs with runs[0].num_threads threads. timings (may be NULL) sum the work
 * done. Errors name the run ("runs[2]: ..."). */
BERTRANK_API bertrank_status bertrank_search_runs(const bertrank_index* index, const bertrank_model* encoder,
                                                  const bertrank_model* reranker, const char* const* queries,
                                                  const size_t* query_lengths, size_t nq,
                                                  const bertrank_search_params* runs, size_t n_runs,
                                                  bertrank_hit* out, size_t out_len, bertrank_timings* timings);

#ifdef __cplusplus
}
#endif

#endif /* BERTRANK_BERTRANK_H */

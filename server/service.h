// service.h — the routes of `bertrank serve` over the C API: TEI (/embed, /rerank, /tokenize,
// /health, /info), OpenAI (/v1/embeddings), Cohere/Jina (/v1/rerank), search and documents over
// a loaded index (/search, /documents), Prometheus metrics (/metrics) and the OpenAPI document
// (/openapi.json). README.md ("Serving") lists every route with a curl example.
//
// Dynamic batching: embedding inputs and rerank pairs from concurrent requests go into one
// bounded queue per model; one worker per model takes what has arrived, up to max_batch_tokens
// tokens, and runs it as one engine call. Results are identical to running each request alone
// (the engine's results do not depend on the batch). Inputs of one request never split across
// batches with different parameters. When the queue holds max_concurrent_requests requests, a
// new one is answered 429 at once: overload gives 429s, not a growing queue.
//
// Errors: every failure is a JSON body {"error": "<message>", "error_type": "<kind>"} (TEI's
// shape) with a status: 400 malformed JSON, 401 missing or wrong API key, 404 unknown route or
// document, 405 wrong method, 413 payload too large, 422 wrong types / empty input / too many
// inputs / too many tokens (the message names the field and the counts), 424 no model or index
// for the route, 429 queue full, 500 an engine failure (never expected; logged).
// handle() never throws.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "bertrank/bertrank.hpp"
#include "server/http.h"
#include "server/store.h"

namespace bertrank::server {

struct ServiceConfig {
  // Limits, named as TEI names them, all reported by GET /info.
  size_t max_client_batch_size = 32;     // inputs (texts, documents) per request
  size_t max_batch_tokens = 16384;       // tokens per forward pass of a batch
  size_t max_concurrent_requests = 512;  // requests queued or running; beyond: 429
  size_t max_search_k = 1000;            // k and candidates of /search
  HttpLimits http;                        // payload size etc. (enforced by HttpServer)
  std::string api_key;                    // non-empty: "Authorization: Bearer <key>" required
                                          // (except GET /health)
  int num_threads = 0;                    // engine threads per call (0: process default)
  std::string model_id;                   // "model" reported by /v1/embeddings, /info
                                          // ("": the encoder's name)
  bool truncate_v1 = true;                // /v1/embeddings and /v1/rerank truncate inputs over
                                          // the model's max length (OpenAI and Cohere clients
                                          // cannot ask for it); false: 422 as /embed does
};

// Every (method, path pattern) handle() serves, e.g. {"GET", "/documents/{id}"}; the OpenAPI
// document names exactly these.
struct ServiceRoute {
  const char* method;
  const char* path;
};
const std::vector<ServiceRoute>& service_routes();
// The OpenAPI 3.0.3 document served at GET /openapi.json (server/openapi.cpp).
const std::string& service_openapi_document();

class Service {
 public:
  // encoder / reranker / store may be null (their routes answer 424). Starts the batch workers.
  Service(const Model* encoder, const Model* reranker, DocumentStore* store, ServiceConfig config);
  ~Service();  // stops the workers after the queued work is done
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  HttpResponse handle(const HttpRequest& request) noexcept;
  // Counts a response the transport produced itself (400/408/413/431/503 before a handler ran).
  void count_transport_error(int status) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bertrank::server

// `bertrank serve [-m BI.brm] [--reranker CE.brm] [-i INDEX] [--host 127.0.0.1] [--port 8080]
//                 [-t N] [limits...]`: the HTTP service (server/). Loads the models (mapped),
// opens the index with its write-ahead log, listens, and prints one ready line on stderr:
//   bertrank serve: listening on http://127.0.0.1:8080 (...)
// SIGTERM or SIGINT drains: stop accepting, finish in-flight requests, checkpoint the index,
// exit 0. Signals are taken by a thread of their own (sigwait), never by a handler that could
// interrupt the engine.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "server/http.h"
#include "server/service.h"
#include "server/store.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

namespace {
constexpr const char* kDefaultEncoder = "weights/all-MiniLM-L6-v2.brm";
constexpr const char* kDefaultReranker = "weights/ms-marco-MiniLM-L-12-v2.brm";

struct ServeArgs {
  std::string model = kDefaultEncoder, reranker = kDefaultReranker, index, host = "127.0.0.1";
  std::string precision = "fp32", api_key, model_id;
  int port = 8080, threads = 0;
  bool no_reranker = false, reranker_given = false, model_given = false;
  server::ServiceConfig service;
  server::HttpLimits http;
};

// Blocks the signals the service handles in the calling thread, before any other thread exists,
// so every thread created later inherits the mask and only the signal thread receives them.
sigset_t block_service_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);  // internal: wakes the signal thread when run() ends without a signal
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up is an error on send(), not the end of the process
  return set;
}

void run_serve(const ServeArgs& a) {
  const sigset_t signals = block_service_signals();
  if (!std::filesystem::exists(a.model))
    throw std::runtime_error("no bi-encoder at '" + a.model + "'" +
                             (a.model_given ? "" : " (the default; run scripts/setup.sh, or give -m)"));
  const Model encoder = load_model(a.model, a.precision);
  std::optional<Model> reranker;
  if (!a.no_reranker) {
    if (std::filesystem::exists(a.reranker))
      reranker.emplace(load_model(a.reranker, a.precision));
    else if (a.reranker_given)
      throw std::runtime_error("no cross-encoder at '" + a.reranker + "'");
    else
      std::fprintf(stderr, "bertrank serve: no reranker (the default %s is absent); /rerank answers 424\n",
                   kDefaultReranker);
  }
  if (encoder.info().kind != BERTRANK_MODEL_EMBEDDING)
    throw std::runtime_error("-m " + a.model + " is not an embedding model (a cross-encoder? use --reranker)");
  if (reranker && reranker->info().kind != BERTRANK_MODEL_CROSS_ENCODER)
    throw std::runtime_error("--reranker " + a.reranker + " is not a cross-encoder");

  std::unique_ptr<server::DocumentStore> store;
  if (!a.index.empty()) {
    server::StoreOptions so;
    so.index_path = a.index;
    store = std::make_unique<server::DocumentStore>(so, encoder);
  }

  server::ServiceConfig cfg = a.service;
  cfg.http = a.http;
  cfg.api_key = a.api_key;
  cfg.num_threads = a.threads;
  cfg.model_id = a.model_id.empty() ? std::string(encoder.info().name) : a.model_id;
  auto service = std::make_unique<server::Service>(&encoder, reranker ? &*reranker : nullptr, store.get(), cfg);

  server::HttpServer http([&service](const server::HttpRequest& r) { return service->handle(r); }, a.http);
  http.set_error_observer([&service](int status) { service->count_transport_error(status); });
  std::string error;
  if (!http.listen(a.host, a.port, &error)) throw std::runtime_error(error);

  std::thread signal_thread([&http, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGTERM || sig == SIGINT) {
      std::fprintf(stderr, "bertrank serve: %s: draining (finishing requests in flight)\n",
                   sig == SIGTERM ? "SIGTERM" : "SIGINT");
      http.stop();
    }
  });
  const bool loopback = a.host == "127.0.0.1" || a.host == "localhost" || a.host == "::1";
  std::string url_host = a.host.find(':') != std::string::npos ? "[" + a.host + "]" : a.host;
  std::fprintf(stderr,
               "bertrank serve: listening on http://%s:%d (encoder %s, reranker %s, index %s, %d threads, %s%s)\n",
               url_host.c_str(), http.port(), encoder.info().name,
               reranker ? reranker->info().name : "none",
               store ? (store->path() + ": " + std::to_string(store->size()) + " documents").c_str() : "none",
               a.threads > 0 ? a.threads : bertrank_max_threads(), bertrank_isa(),
               !loopback && a.api_key.empty() ? "; WARNING: not loopback and no --api-key" : "");
  std::fflush(stderr);
  http.run();
  pthread_kill(signal_thread.native_handle(), SIGUSR1);  // no-op when it already returned
  signal_thread.join();
  service.reset();  // finishes queued batches
  if (store) {
    store->checkpoint();
    std::fprintf(stderr, "bertrank serve: index saved (%zu documents): %s\n", store->size(), store->path().c_str());
  }
  std::fprintf(stderr, "bertrank serve: stopped\n");
}
}  // namespace

void add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve", "HTTP service: embed, rerank, tokenize, search (TEI / OpenAI / Cohere routes)");
  auto* m = cmd->add_option("-m,--model", a->model, std::string("Bi-encoder (.brm); default ") + kDefaultEncoder);
  auto* r = cmd->add_option("--reranker", a->reranker, std::string("Cross-encoder (.brm); default ") + kDefaultReranker +
                                                        " when present");
  cmd->add_flag("--no-reranker", a->no_reranker, "Serve without a cross-encoder")->excludes(r);
  cmd->add_option("-i,--index", a->index,
                  "Index to search and write (created empty, flat + BM25, if absent); its writes are logged to "
                  "INDEX.wal and survive kill -9");
  cmd->add_option("--host", a->host, "Address to bind (default 127.0.0.1; 0.0.0.0 or :: to expose: use --api-key)");
  cmd->add_option("--port", a->port, "Port (default 8080; 0: any free port, printed in the ready line)")
      ->check(CLI::Range(0, 65535));
  add_threads_option(cmd, a->threads);
  add_precision_option(cmd, a->precision);
  cmd->add_option("--api-key", a->api_key, "Require 'Authorization: Bearer KEY' (or set BERTRANK_API_KEY)")
      ->envname("BERTRANK_API_KEY");
  cmd->add_option("--model-id", a->model_id, "Model name reported by /info and /v1/embeddings (default: the bi-encoder's)");
  cmd->add_option("--max-client-batch-size", a->service.max_client_batch_size, "Inputs per request (default 32)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-batch-tokens", a->service.max_batch_tokens, "Tokens per batched forward pass (default 16384)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-concurrent-requests", a->service.max_concurrent_requests,
                  "Requests queued or running; more are answered 429 (default 512)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--payload-limit", a->http.max_body_bytes, "Largest request body in bytes; more: 413 (default 2 MB)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-connections", a->http.max_connections, "Open connections; more: 503 (default 512)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--read-timeout-ms", a->http.read_timeout_ms, "A request stalled this long is answered 408 (default 10000)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--idle-timeout-ms", a->http.idle_timeout_ms, "Idle keep-alive connections close after this (default 5000)")
      ->check(CLI::PositiveNumber);
  cmd->callback([a, m, r] {
    a->model_given = m->count() > 0;
    a->reranker_given = r->count() > 0;
    run_serve(*a);
  });
}

}  // namespace bertrank::cli

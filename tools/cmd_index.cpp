// `bertrank index build|add|remove|info`: build and maintain a retrieval index (through the C
// API: bertrank_index_*) from documents in jsonl or SMART form (retrieval/docs_io.h), embedded
// with a bi-encoder.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/file_lock.h"
#include "retrieval/docs_io.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

namespace {

// Progress on stderr: a bar with documents/s and ETA on a terminal, plain lines otherwise.
class Progress {
 public:
  Progress(const char* what, size_t total) : what_(what), total_(total), tty_(isatty(2)) {
    start_ = last_ = std::chrono::steady_clock::now();
  }
  void update(size_t done) {
    const auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (done < total_ && since < (tty_ ? 0.2 : 5.0)) return;
    last_ = now;
    const double el = std::chrono::duration<double>(now - start_).count();
    const double rate = el > 0 ? done / el : 0;
    const double eta = rate > 0 ? (total_ - done) / rate : 0;
    if (tty_) {
      const int w = 30, fill = total_ ? (int)(w * done / total_) : w;
      std::string bar(fill, '=');
      if (fill < w) bar += '>' + std::string(w - fill - 1, ' ');
      std::fprintf(stderr, "\r%s [%s] %zu/%zu docs  %.0f docs/s  ETA %.0fs ", what_, bar.c_str(), done,
                   total_, rate, eta);
      if (done >= total_) std::fprintf(stderr, "\n");
    } else {
      std::fprintf(stderr, "%s: %zu/%zu documents, %.0f docs/s, ETA %.0f s\n", what_, done, total_, rate, eta);
    }
    std::fflush(stderr);
  }

 private:
  const char* what_;
  size_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

struct DocBatch {
  std::vector<float> vectors;
  std::vector<int64_t> ids;
  std::vector<std::string> texts, metas;
};

DocBatch embed_documents(const Model& m, std::vector<retrieval::DocInput> docs, int threads, const char* what) {
  const bertrank_model_info mi = m.info();
  if (mi.kind != BERTRANK_MODEL_EMBEDDING)
    throw std::runtime_error(std::string(mi.path) + " is a cross-encoder; an index needs a bi-encoder");
  const size_t n = docs.size(), dim = size_t(mi.dim);
  DocBatch b;
  b.vectors.resize(n * dim);
  Progress prog(what, n);
  bertrank_embed_params ep = bertrank_embed_default_params();
  ep.num_threads = threads;
  size_t truncated = 0;
  const size_t B = 256;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  std::vector<uint8_t> trunc;
  for (size_t i = 0; i < n; i += B) {
    const size_t e = std::min(n, i + B);
    ptrs.clear();
    lens.clear();
    for (size_t j = i; j < e; ++j) {
      ptrs.push_back(docs[j].text.c_str());
      lens.push_back(docs[j].text.size());
    }
    trunc.assign(e - i, 0);
    check(bertrank_embed(m.get(), ptrs.data(), lens.data(), e - i, &ep, b.vectors.data() + i * dim, (e - i) * dim,
                         trunc.data()));
    for (uint8_t t : trunc) truncated += t;
    prog.update(e);
  }
  if (n == 0) prog.update(0);
  if (truncated)
    std::fprintf(stderr, "%s: %zu of %zu documents were truncated to the model's %d word pieces\n", what,
                 truncated, n, mi.max_length);
  for (auto& d : docs) {
    b.ids.push_back(d.id);
    b.texts.push_back(std::move(d.text));
    b.metas.push_back(std::move(d.meta));
  }
  return b;
}

// Adds an embedded batch to an index through the C API (all or nothing).
void add_batch(bertrank_index* idx, const DocBatch& b) {
  std::vector<const char*> texts, metas;
  std::vector<size_t> lengths;  // texts may hold NULs: pass their lengths (nothing cut short)
  for (size_t i = 0; i < b.ids.size(); ++i) {
    texts.push_back(b.texts[i].c_str());
    lengths.push_back(b.texts[i].size());
    metas.push_back(b.metas[i].c_str());
  }
  check(bertrank_index_add_vectors(idx, b.ids.data(), b.vectors.data(), texts.data(), lengths.data(), metas.data(),
                                   b.ids.size()));
}

// Writers of an index hold its lock (common/file_lock.h: flock on "<index>.lock") from load to
// save, so concurrent add/remove/build never lose each other's changes. By default a writer that
// finds the lock held says so on stderr and waits; --no-wait makes it fail at once (exit 1).
FileLock lock_index(const std::string& path, bool no_wait, const char* what) {
  try {
    return FileLock(path, FileLock::Wait::no_wait);
  } catch (const FileLockBusy& e) {
    if (no_wait) throw std::runtime_error(std::string(what) + ": " + e.what() + " (--no-wait given)");
    std::fprintf(stderr, "%s: %s; waiting for it to finish\n", what, e.what());
  }
  return FileLock(path, FileLock::Wait::block);
}

void add_no_wait_flag(CLI::App* cmd, bool& no_wait) {
  cmd->add_flag("--no-wait", no_wait,
                "Fail at once if another writer holds the index's lock (default: wait for it)");
}

const char* index_type_name(bertrank_index_type t) { return t == BERTRANK_INDEX_IVF ? "ivf" : "flat"; }
const char* storage_name(bertrank_storage s) {
  return s == BERTRANK_STORAGE_INT8 ? "int8" : s == BERTRANK_STORAGE_F16 ? "f16" : "f32";
}

// What an index file holds: counts, types, sizes, BM25 parameters, the model.
nlohmann::json index_info(const std::string& path) {
  const Index idx = Index::load(path, /*mmap=*/true);
  const bertrank_index_info i = idx.info();  // its pointers live as long as idx
  nlohmann::json j;
  j["documents"] = i.documents;
  j["dim"] = i.dim;
  j["type"] = index_type_name(i.type);
  j["storage"] = storage_name(i.storage);
  j["rescore"] = i.rescore != 0;
  if (i.type == BERTRANK_INDEX_IVF) {
    j["nlist"] = i.nlist;
    j["nprobe"] = i.nprobe;
  }
  j["model"] = {{"fingerprint", i.model_fingerprint}, {"path", i.model_path}};
  if (i.bm25)
    j["bm25"] = {{"k1", std::round(i.bm25_k1 * 1e6) / 1e6}, {"b", std::round(i.bm25_b * 1e6) / 1e6},
                 {"stopwords", i.bm25_stopwords != 0}, {"vocabulary", i.bm25_vocabulary}};
  else
    j["bm25"] = nullptr;
  return j;
}

std::vector<int64_t> parse_id_list(const std::string& s) {
  std::vector<int64_t> out;
  std::stringstream ss(s);
  for (std::string tok; std::getline(ss, tok, ',');) {
    const size_t a = tok.find_first_not_of(" \t\r\n"), z = tok.find_last_not_of(" \t\r\n");
    if (a == std::string::npos) continue;
    out.push_back(retrieval::parse_doc_id(tok.substr(a, z - a + 1), "--ids"));
  }
  return out;
}

// --encoding of the documents file (retrieval/docs_io.h): invalid UTF-8 is replaced, and said.
void add_encoding_option(CLI::App* cmd, std::string& encoding) {
  cmd->add_option("--encoding", encoding,
                  "Documents file encoding: utf-8 (default; invalid bytes become U+FFFD) or latin-1");
}
std::vector<retrieval::DocInput> read_documents_warn(const std::string& path, const std::string& encoding,
                                                     const char* what) {
  TextDecodeReport rep;
  auto docs = retrieval::read_documents(path, parse_text_encoding(encoding, "--encoding"), &rep);
  const std::string w = text_decode_warning(what, "documents", rep);
  if (!w.empty()) std::fprintf(stderr, "%s\n", w.c_str());
  return docs;
}

// ---- index build ----
struct BuildArgs {
  std::string model, docs, out, type = "flat", dtype = "f32", precision = "fp32", encoding = "utf-8";
  size_t nlist = 0, nprobe = 0;
  bool bm25 = false, no_rescore = false, no_stopwords = false, no_wait = false;
  float k1 = 1.2f, b = 0.75f;
  int threads = 0;
};

bertrank_index_params index_params(const BuildArgs& a) {
  bertrank_index_params ip = bertrank_index_default_params();
  ip.type = a.type == "ivf" ? BERTRANK_INDEX_IVF : BERTRANK_INDEX_FLAT;
  ip.storage = a.dtype == "int8" ? BERTRANK_STORAGE_INT8 : a.dtype == "f16" ? BERTRANK_STORAGE_F16 : BERTRANK_STORAGE_F32;
  ip.rescore = a.no_rescore ? 0 : 1;
  ip.nlist = a.nlist;
  ip.nprobe = a.nprobe;
  ip.bm25 = a.bm25 ? 1 : 0;
  ip.bm25_k1 = a.k1;
  ip.bm25_b = a.b;
  ip.bm25_stopwords = a.no_stopwords ? 0 : 1;
  return ip;
}

// Embeds the documents into a new index, saves it and prints what the saved file holds.
void run_index_build(const BuildArgs& a) {
  auto docs = read_documents_warn(a.docs, a.encoding, "index build");
  const Model m = load_model(a.model, a.precision);
  Index idx(m, index_params(a));
  const auto t0 = std::chrono::steady_clock::now();
  auto b = embed_documents(m, std::move(docs), a.threads, "index build");
  const auto t1 = std::chrono::steady_clock::now();
  add_batch(idx.get(), b);
  const auto t2 = std::chrono::steady_clock::now();
  {
    const FileLock lock = lock_index(a.out, a.no_wait, "index build");  // not under a running add
    idx.save(a.out);
  }
  auto info = index_info(a.out);
  info["embed_seconds"] = std::chrono::duration<double>(t1 - t0).count();
  info["index_seconds"] = std::chrono::duration<double>(t2 - t1).count();
  info["file"] = a.out;
  std::cout << info.dump() << "\n";
}

void add_index_build_command(CLI::App* cmd) {
  auto ba = std::make_shared<BuildArgs>();
  auto* build = cmd->add_subcommand("build", "Embed documents and write a new index");
  build->add_option("-m,--model", ba->model, "Bi-encoder model (.brm)")->required();
  build->add_option("--docs", ba->docs, "Documents: jsonl {\"id\",\"text\",\"meta\"} or a SMART collection file")->required();
  build->add_option("-o,--output", ba->out, "Index file to write")->required();
  add_encoding_option(build, ba->encoding);
  build->add_option("--type", ba->type, "flat (exact) or ivf (inverted lists)")->check(CLI::IsMember({"flat", "ivf"}));
  build->add_option("--nlist", ba->nlist, "IVF lists (default: about 4*sqrt(documents))");
  build->add_option("--nprobe", ba->nprobe, "IVF lists visited per query by default (default: 8)");
  build->add_option("--dtype", ba->dtype, "Vector storage: f32, f16 or int8")->check(CLI::IsMember({"f32", "f16", "int8"}));
  build->add_flag("--no-rescore", ba->no_rescore, "int8: do not keep exact copies for re-scoring (4x smaller, less exact)");
  build->add_flag("--bm25", ba->bm25, "Also build a BM25 index over the texts (enables --mode bm25|hybrid)");
  build->add_option("--k1", ba->k1, "BM25 k1 (default 1.2)");
  build->add_option("--b", ba->b, "BM25 b (default 0.75)");
  build->add_flag("--no-stopwords", ba->no_stopwords, "BM25: keep English stop words");
  add_threads_option(build, ba->threads);
  add_no_wait_flag(build, ba->no_wait);
  add_precision_option(build, ba->precision);
  build->callback([ba] { run_index_build(*ba); });
}

// ---- index add ----
struct AddArgs {
  std::string index, docs, model, precision = "fp32", encoding = "utf-8";
  int threads = 0;
  bool no_wait = false;
};

// Embeds new documents into an existing index under its lock and saves it.
void run_index_add(const AddArgs& a) {
  const FileLock lock = lock_index(a.index, a.no_wait, "index add");  // held until saved
  Index idx = Index::load(a.index);
  auto docs = read_documents_warn(a.docs, a.encoding, "index add");
  for (const auto& d : docs)
    if (bertrank_index_document(idx.get(), d.id, nullptr, nullptr, nullptr) == BERTRANK_OK)
      throw std::runtime_error("document id " + std::to_string(d.id) + " is already in the index");
  const Model m = load_index_model(idx.get(), a.model, a.precision);
  check(bertrank_index_check_model(idx.get(), m.get()));
  if (!a.model.empty()) check(bertrank_index_set_model_path(idx.get(), a.model.c_str()));
  auto b = embed_documents(m, std::move(docs), a.threads, "index add");
  add_batch(idx.get(), b);
  idx.save(a.index);
  std::cout << nlohmann::json{{"added", b.ids.size()}, {"documents", idx.size()}}.dump() << "\n";
}

void add_index_add_command(CLI::App* cmd) {
  auto aa = std::make_shared<AddArgs>();
  auto* add = cmd->add_subcommand("add", "Embed more documents into an existing index (saved atomically)");
  add->add_option("-i,--index", aa->index, "Index file")->required();
  add->add_option("--docs", aa->docs, "Documents (jsonl or SMART); ids must be new")->required();
  add_encoding_option(add, aa->encoding);
  add->add_option("-m,--model", aa->model, "Model, if it moved since the index was built");
  add_threads_option(add, aa->threads);
  add_no_wait_flag(add, aa->no_wait);
  add_precision_option(add, aa->precision);
  add->callback([aa] { run_index_add(*aa); });
}

// ---- index remove ----
struct RemoveArgs {
  std::string index, ids, ids_file;
  bool no_wait = false;
};

// --ids or the lines of --ids-file.
std::vector<int64_t> ids_to_remove(const RemoveArgs& a) {
  std::vector<int64_t> ids;
  if (!a.ids_file.empty()) {
    std::ifstream in(a.ids_file);
    if (!in) throw std::runtime_error("cannot open '" + a.ids_file + "'");
    std::string all, line;
    while (std::getline(in, line)) all += line + ",";
    ids = parse_id_list(all);
  } else {
    ids = parse_id_list(a.ids);
  }
  if (ids.empty()) throw std::runtime_error("no ids given (--ids 1,2,3 or --ids-file FILE)");
  return ids;
}

void run_index_remove(const RemoveArgs& a) {
  const std::vector<int64_t> ids = ids_to_remove(a);
  const FileLock lock = lock_index(a.index, a.no_wait, "index remove");  // held until saved
  Index idx = Index::load(a.index);
  size_t removed = 0;
  check(bertrank_index_remove(idx.get(), ids.data(), ids.size(), &removed));
  idx.save(a.index);
  std::cout << nlohmann::json{{"removed", removed}, {"not_found", ids.size() - removed}, {"documents", idx.size()}}.dump()
            << "\n";
}

void add_index_remove_command(CLI::App* cmd) {
  auto ra = std::make_shared<RemoveArgs>();
  auto* rem = cmd->add_subcommand("remove", "Remove documents by id (saved atomically)");
  rem->add_option("-i,--index", ra->index, "Index file")->required();
  auto* ids_opt = rem->add_option("--ids", ra->ids, "Comma-separated ids");
  auto* file_opt = rem->add_option("--ids-file", ra->ids_file, "File with one id per line");
  ids_opt->excludes(file_opt);
  add_no_wait_flag(rem, ra->no_wait);
  rem->callback([ra] { run_index_remove(*ra); });
}

// ---- index info ----
void add_index_info_command(CLI::App* cmd) {
  auto info_path = std::make_shared<std::string>();
  auto* inf = cmd->add_subcommand("info", "Print what an index holds (JSON)");
  inf->add_option("-i,--index,index", *info_path, "Index file")->required();
  inf->callback([info_path] {
    auto j = index_info(*info_path);
    j["file"] = *info_path;
    j["file_bytes"] = std::filesystem::file_size(*info_path);
    std::cout << j.dump(2) << "\n";
  });
}

}  // namespace

void add_index_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("index", "Build and maintain a retrieval index");
  cmd->require_subcommand(1);
  add_index_build_command(cmd);
  add_index_add_command(cmd);
  add_index_remove_command(cmd);
  add_index_info_command(cmd);
}

}  // namespace bertrank::cli

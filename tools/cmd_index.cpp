// `bertrank index build|add|remove|info`: build and maintain a retrieval index (retrieval/index.h)
// from documents in jsonl or SMART form (retrieval/docs_io.h), embedded with a bi-encoder.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/model.h"
#include "retrieval/docs_io.h"
#include "retrieval/index.h"
#include "tools/commands.h"

namespace bertrank::cli {

// The model an index was built with: `-m` when given (must have the same fingerprint), else the
// path recorded in the index.
std::shared_ptr<const model::Model> load_index_model(const retrieval::Index& idx,
                                                     const std::string& model_arg) {
  std::string path = model_arg.empty() ? idx.model_path() : model_arg;
  if (model_arg.empty() && !std::filesystem::exists(path))
    throw std::runtime_error("the model recorded in the index ('" + path +
                             "') was not found; pass its new location with -m");
  auto m = model::Model::load(path);
  idx.check_model(m->fingerprint());
  return m;
}

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

DocBatch embed_documents(const model::Model& m, std::vector<retrieval::DocInput> docs, int threads,
                         const char* what) {
  auto shared = std::shared_ptr<const model::Model>(&m, [](const model::Model*) {});
  model::BiEncoder enc(shared);
  const size_t n = docs.size(), dim = (size_t)enc.dim();
  DocBatch b;
  b.vectors.resize(n * dim);
  Progress prog(what, n);
  model::EmbedOptions opt;
  opt.num_threads = threads;
  size_t truncated = 0;
  const size_t B = 256;
  for (size_t i = 0; i < n; i += B) {
    const size_t e = std::min(n, i + B);
    std::vector<std::string> texts;
    for (size_t j = i; j < e; ++j) texts.push_back(docs[j].text);
    model::EmbedInfo info;
    enc.embed(texts, b.vectors.data() + i * dim, &info, opt);
    truncated += info.num_truncated;
    prog.update(e);
  }
  if (n == 0) prog.update(0);
  if (truncated)
    std::fprintf(stderr, "%s: %zu of %zu documents were truncated to the model's %d word pieces\n", what,
                 truncated, n, m.head().max_seq_length);
  for (auto& d : docs) {
    b.ids.push_back(d.id);
    b.texts.push_back(std::move(d.text));
    b.metas.push_back(std::move(d.meta));
  }
  return b;
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

}  // namespace

void add_index_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("index", "Build and maintain a retrieval index");
  cmd->require_subcommand(1);

  // ---- build ----
  struct BuildArgs {
    std::string model, docs, out, type = "flat", dtype = "f32";
    size_t nlist = 0, nprobe = 0;
    bool bm25 = false, no_rescore = false, no_stopwords = false;
    float k1 = 1.2f, b = 0.75f;
    int threads = 0;
  };
  auto ba = std::make_shared<BuildArgs>();
  auto* build = cmd->add_subcommand("build", "Embed documents and write a new index");
  build->add_option("-m,--model", ba->model, "Bi-encoder model (.brm)")->required();
  build->add_option("--docs", ba->docs, "Documents: jsonl {\"id\",\"text\",\"meta\"} or a SMART collection file")->required();
  build->add_option("-o,--output", ba->out, "Index file to write")->required();
  build->add_option("--type", ba->type, "flat (exact) or ivf (inverted lists)")->check(CLI::IsMember({"flat", "ivf"}));
  build->add_option("--nlist", ba->nlist, "IVF lists (default: about 4*sqrt(documents))");
  build->add_option("--nprobe", ba->nprobe, "IVF lists visited per query by default (default: 8)");
  build->add_option("--dtype", ba->dtype, "Vector storage: f32, f16 or int8")->check(CLI::IsMember({"f32", "f16", "int8"}));
  build->add_flag("--no-rescore", ba->no_rescore, "int8: do not keep exact copies for re-scoring (4x smaller, less exact)");
  build->add_flag("--bm25", ba->bm25, "Also build a BM25 index over the texts (enables --mode bm25|hybrid)");
  build->add_option("--k1", ba->k1, "BM25 k1 (default 1.2)");
  build->add_option("--b", ba->b, "BM25 b (default 0.75)");
  build->add_flag("--no-stopwords", ba->no_stopwords, "BM25: keep English stop words");
  build->add_option("-t,--threads", ba->threads, "Threads for embedding (default: all)");
  build->callback([ba] {
    auto docs = retrieval::read_documents(ba->docs);
    auto m = model::Model::load(ba->model);
    retrieval::IndexOptions o;
    o.kind = retrieval::parse_index_kind(ba->type);
    o.storage = retrieval::parse_storage_type(ba->dtype);
    o.rescore = !ba->no_rescore;
    o.nlist = ba->nlist;
    o.nprobe = ba->nprobe;
    o.bm25 = ba->bm25;
    o.bm25_params = retrieval::Bm25Params{ba->k1, ba->b, !ba->no_stopwords};
    const std::string abs_model = std::filesystem::absolute(ba->model).lexically_normal().string();
    retrieval::Index idx((size_t)m->config().hidden_size, o, m->fingerprint(), abs_model);
    const auto t0 = std::chrono::steady_clock::now();
    auto b = embed_documents(*m, std::move(docs), ba->threads, "index build");
    const auto t1 = std::chrono::steady_clock::now();
    idx.add(b.ids.size(), b.vectors.data(), b.ids.data(), b.texts.data(), b.metas.data());
    const auto t2 = std::chrono::steady_clock::now();
    idx.save(ba->out);
    auto info = idx.info();
    info["embed_seconds"] = std::chrono::duration<double>(t1 - t0).count();
    info["index_seconds"] = std::chrono::duration<double>(t2 - t1).count();
    info["file"] = ba->out;
    std::cout << info.dump() << "\n";
  });

  // ---- add ----
  struct AddArgs {
    std::string index, docs, model;
    int threads = 0;
  };
  auto aa = std::make_shared<AddArgs>();
  auto* add = cmd->add_subcommand("add", "Embed more documents into an existing index (saved atomically)");
  add->add_option("-i,--index", aa->index, "Index file")->required();
  add->add_option("--docs", aa->docs, "Documents (jsonl or SMART); ids must be new")->required();
  add->add_option("-m,--model", aa->model, "Model, if it moved since the index was built");
  add->add_option("-t,--threads", aa->threads, "Threads for embedding (default: all)");
  add->callback([aa] {
    auto idx = retrieval::Index::load(aa->index);
    auto docs = retrieval::read_documents(aa->docs);
    for (const auto& d : docs)
      if (idx.contains(d.id))
        throw std::runtime_error("document id " + std::to_string(d.id) + " is already in the index");
    auto m = load_index_model(idx, aa->model);
    if (!aa->model.empty()) idx.set_model_path(std::filesystem::absolute(aa->model).lexically_normal().string());
    auto b = embed_documents(*m, std::move(docs), aa->threads, "index add");
    idx.add(b.ids.size(), b.vectors.data(), b.ids.data(), b.texts.data(), b.metas.data());
    idx.save(aa->index);
    std::cout << nlohmann::json{{"added", b.ids.size()}, {"documents", idx.size()}}.dump() << "\n";
  });

  // ---- remove ----
  struct RemoveArgs {
    std::string index, ids, ids_file;
  };
  auto ra = std::make_shared<RemoveArgs>();
  auto* rem = cmd->add_subcommand("remove", "Remove documents by id (saved atomically)");
  rem->add_option("-i,--index", ra->index, "Index file")->required();
  auto* ids_opt = rem->add_option("--ids", ra->ids, "Comma-separated ids");
  auto* file_opt = rem->add_option("--ids-file", ra->ids_file, "File with one id per line");
  ids_opt->excludes(file_opt);
  rem->callback([ra] {
    std::vector<int64_t> ids;
    if (!ra->ids_file.empty()) {
      std::ifstream in(ra->ids_file);
      if (!in) throw std::runtime_error("cannot open '" + ra->ids_file + "'");
      std::string all, line;
      while (std::getline(in, line)) all += line + ",";
      ids = parse_id_list(all);
    } else {
      ids = parse_id_list(ra->ids);
    }
    if (ids.empty()) throw std::runtime_error("no ids given (--ids 1,2,3 or --ids-file FILE)");
    auto idx = retrieval::Index::load(ra->index);
    const size_t removed = idx.remove(ids.size(), ids.data());
    idx.save(ra->index);
    std::cout << nlohmann::json{{"removed", removed}, {"not_found", ids.size() - removed}, {"documents", idx.size()}}.dump()
              << "\n";
  });

  // ---- info ----
  auto info_path = std::make_shared<std::string>();
  auto* inf = cmd->add_subcommand("info", "Print what an index holds (JSON)");
  inf->add_option("-i,--index,index", *info_path, "Index file")->required();
  inf->callback([info_path] {
    retrieval::LoadOptions lo;
    lo.mmap = true;
    auto idx = retrieval::Index::load(*info_path, lo);
    auto j = idx.info();
    j["file"] = *info_path;
    j["file_bytes"] = std::filesystem::file_size(*info_path);
    std::cout << j.dump(2) << "\n";
  });
}

}  // namespace bertrank::cli

// `bertrank embed -m <model.brm> [FILE] [--format jsonl|npy] [-o FILE]`: one text per line in,
// one embedding per text out (jsonl: a JSON array of floats per line; npy: float32 n×dim).
#include <cstdio>
#include <fstream>
#include <memory>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/atomic_file.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

namespace {
struct EmbedArgs {
  std::string model, input, output, format = "jsonl", precision = "fp32";
  int threads = 0, max_length = 0;
};

// Where the output goes: standard output, or a file written atomically (common/atomic_file.h:
// a killed run leaves the previous file, never a truncated one).
struct Sink {
  std::unique_ptr<AtomicFileWriter> file;
  void put(const void* p, size_t n) {
    if (file) file->write(p, n);
    else std::fwrite(p, 1, n, stdout);
  }
};

void write_npy(Sink& f, const std::vector<float>& v, size_t n, int dim) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " +
                  std::to_string(dim) + "), }";
  const size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  const uint16_t hl = uint16_t(h.size());
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(hl & 0xff), uint8_t(hl >> 8)};
  f.put(pre, 10);
  f.put(h.data(), h.size());
  f.put(v.data(), sizeof(float) * v.size());
}
}  // namespace

void add_embed_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("embed", "Embed texts (one per line) with a bi-encoder model");
  auto a = std::make_shared<EmbedArgs>();
  cmd->add_option("-m,--model", a->model, "Model file (.brm)")->required();
  cmd->add_option("input", a->input, "Input file, one text per line (default: standard input)");
  cmd->add_option("-o,--output", a->output, "Output file (default: standard output)");
  cmd->add_option("--format", a->format, "jsonl (one JSON array per line) or npy (float32 n x dim)")
      ->check(CLI::IsMember({"jsonl", "npy"}));
  add_threads_option(cmd, a->threads);
  add_precision_option(cmd, a->precision);
  cmd->add_option("--max-length", a->max_length, "Truncate to this many word pieces (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([a] {
    const Model enc = load_model(a->model, a->precision);
    const bertrank_model_info mi = enc.info();
    if (mi.kind != BERTRANK_MODEL_EMBEDDING)
      throw std::runtime_error("'" + a->model + "' is a cross-encoder; embed needs a bi-encoder (use rerank)");
    const int dim = mi.dim;
    const std::vector<std::string> texts = read_lines(a->input);
    bertrank_embed_params ep = bertrank_embed_default_params();
    ep.num_threads = a->threads;
    ep.max_length = a->max_length;
    std::vector<float> out(texts.size() * size_t(dim));
    std::vector<const char*> ptrs(texts.size());
    std::vector<size_t> lens(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) {
      ptrs[i] = texts[i].c_str();
      lens[i] = texts[i].size();
    }
    std::vector<uint8_t> truncated(texts.size());
    check(bertrank_embed(enc.get(), ptrs.data(), lens.data(), texts.size(), &ep, out.data(), out.size(),
                         truncated.data()));
    size_t num_truncated = 0;
    for (uint8_t t : truncated) num_truncated += t;

    Sink f;
    if (!a->output.empty() && a->output != "-") f.file = std::make_unique<AtomicFileWriter>(a->output);
    if (a->format == "npy") {
      write_npy(f, out, texts.size(), dim);
    } else {
      std::string line;
      char buf[32];
      for (size_t i = 0; i < texts.size(); ++i) {
        line = "[";
        for (int j = 0; j < dim; ++j) {
          std::snprintf(buf, sizeof buf, j ? ",%.9g" : "%.9g", double(out[i * size_t(dim) + size_t(j)]));
          line += buf;
        }
        line += "]\n";
        f.put(line.data(), line.size());
      }
    }
    if (f.file) f.file->commit();
    else if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0)
      throw std::runtime_error("error writing standard output");
    if (num_truncated)
      std::fprintf(stderr, "bertrank embed: %zu of %zu inputs truncated to %d word pieces\n", num_truncated,
                   texts.size(), a->max_length > 0 ? a->max_length : mi.max_length);
  });
}

}  // namespace bertrank::cli

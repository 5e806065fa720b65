// `bertrank embed -m <model.brm> [FILE] [--format jsonl|npy] [-o FILE]`: one text per line in,
// one embedding per text out (jsonl: a JSON array of floats per line; npy: float32 n×dim).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/model.h"
#include "tools/commands.h"

namespace bertrank::cli {

namespace {
struct EmbedArgs {
  std::string model, input, output, format = "jsonl";
  int threads = 0, max_length = 0;
};

void write_npy(std::FILE* f, const std::vector<float>& v, size_t n, int dim) {
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) + ", " +
                  std::to_string(dim) + "), }";
  const size_t total = 10 + h.size() + 1;
  h.append((64 - total % 64) % 64, ' ');
  h += '\n';
  const uint16_t hl = uint16_t(h.size());
  const unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, uint8_t(hl & 0xff), uint8_t(hl >> 8)};
  std::fwrite(pre, 1, 10, f);
  std::fwrite(h.data(), 1, h.size(), f);
  std::fwrite(v.data(), sizeof(float), v.size(), f);
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
  cmd->add_option("-t,--threads", a->threads, "Threads (default: all)");
  cmd->add_option("--max-length", a->max_length, "Truncate to this many word pieces (default: the model's)");
  cmd->callback([a] {
    auto model = model::Model::load(a->model);
    model::BiEncoder enc(model);
    std::vector<std::string> texts;
    {
      std::ifstream fin;
      std::istream* in = &std::cin;
      if (!a->input.empty() && a->input != "-") {
        fin.open(a->input, std::ios::binary);
        if (!fin) throw std::runtime_error("cannot open '" + a->input + "'");
        in = &fin;
      }
      for (std::string line; std::getline(*in, line);) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        texts.push_back(std::move(line));
      }
    }
    model::EmbedOptions opt;
    opt.num_threads = a->threads;
    opt.max_length = a->max_length;
    model::EmbedInfo info;
    std::vector<float> out(texts.size() * size_t(enc.dim()));
    enc.embed(texts, out.data(), &info, opt);

    std::FILE* f = stdout;
    if (!a->output.empty() && a->output != "-") {
      f = std::fopen(a->output.c_str(), "wb");
      if (!f) throw std::runtime_error("cannot write '" + a->output + "'");
    }
    if (a->format == "npy") {
      write_npy(f, out, texts.size(), enc.dim());
    } else {
      std::string line;
      char buf[32];
      for (size_t i = 0; i < texts.size(); ++i) {
        line = "[";
        for (int j = 0; j < enc.dim(); ++j) {
          std::snprintf(buf, sizeof buf, j ? ",%.9g" : "%.9g", double(out[i * enc.dim() + j]));
          line += buf;
        }
        line += "]\n";
        std::fwrite(line.data(), 1, line.size(), f);
      }
    }
    const bool err = std::ferror(f) != 0;
    if (f != stdout) {
      if (std::fclose(f) != 0 || err) throw std::runtime_error("error writing '" + a->output + "'");
    } else if (std::fflush(f) != 0 || err) {
      throw std::runtime_error("error writing standard output");
    }
    if (info.num_truncated)
      std::fprintf(stderr, "bertrank embed: %zu of %zu inputs truncated to %d word pieces\n", info.num_truncated,
                   texts.size(), a->max_length > 0 ? a->max_length : model->head().max_seq_length);
  });
}

}  // namespace bertrank::cli

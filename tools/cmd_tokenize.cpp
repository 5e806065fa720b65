// `bertrank tokenize`: one JSON object per input line with ids, type ids and offsets.
//   bertrank tokenize -m weights/hf/all-MiniLM-L6-v2/vocab.txt [--pair] [--max-length N] [FILE]
// Lines are read from FILE or stdin; a trailing "\r" is removed. With --pair each line is
// "query<TAB>document" (split at the first tab). Invalid UTF-8 is not an error: see
// tokenizer/wordpiece.h (U+FFFD replacement, then dropped by the normaliser).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

namespace {
void write_ints(std::string& out, const std::vector<int32_t>& v) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
}

void write_json(std::string& out, const Encoding& e) {
  out += "{\"ids\":[";
  write_ints(out, e.ids);
  out += "],\"type_ids\":[";
  write_ints(out, e.type_ids);
  out += "],\"offsets\":[";
  for (size_t i = 0; i + 1 < e.offsets.size(); i += 2) {
    if (i) out += ',';
    out += '[' + std::to_string(e.offsets[i]) + ',' + std::to_string(e.offsets[i + 1]) + ']';
  }
  out += "]}\n";
}
}  // namespace

void add_tokenize_command(CLI::App& app) {
  struct Opts {
    std::string model, input;
    bool pair = false;
    int max_length = 0;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("tokenize", "Tokenize lines of text with the model's tokenizer, one JSON object per line");
  cmd->add_option("-m,--model", opts->model,
                  "vocab.txt, a Hugging Face model folder, or a bertrank model file (.brm)")
      ->required();
  cmd->add_flag("--pair", opts->pair, "Each line is 'query<TAB>document'");
  cmd->add_option("--max-length", opts->max_length,
                  "Truncate (longest_first) to N tokens including special tokens; 0 = no truncation")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("input", opts->input, "Input file (default: stdin)");
  cmd->callback([opts] {
    const Tokenizer tok(opts->model);
    std::ifstream file;
    if (!opts->input.empty()) {
      file.open(opts->input, std::ios::binary);
      if (!file) throw std::runtime_error("cannot open input file '" + opts->input + "'");
    }
    std::istream& in = opts->input.empty() ? std::cin : file;
    std::string line, out;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (opts->pair) {
        const size_t tab = line.find('\t');
        if (tab == std::string::npos)
          write_json(out, tok.encode_pair(line, std::string(), opts->max_length));
        else
          write_json(out, tok.encode_pair(line.substr(0, tab), line.substr(tab + 1), opts->max_length));
      } else {
        write_json(out, tok.encode(line, opts->max_length));
      }
      if (out.size() > (1 << 16)) {
        std::fwrite(out.data(), 1, out.size(), stdout);
        out.clear();
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
  });
}

}  // namespace bertrank::cli

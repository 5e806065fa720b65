// `bertrank convert <hf model dir> -o weights/<name>.brm`: Hugging Face folder -> one .brm file.
#include <cstdio>

#include "tools/cli_util.h"
#include "tools/commands.h"

namespace bertrank::cli {

void add_convert_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("convert", "Convert a Hugging Face / sentence-transformers model folder to a .brm file");
  auto dir = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto name = std::make_shared<std::string>();
  cmd->add_option("model_dir", *dir, "Folder with config.json, model.safetensors, vocab.txt, ...")->required();
  cmd->add_option("-o,--output", *out, "Output file, e.g. weights/all-MiniLM-L6-v2.brm")->required();
  cmd->add_option("--name", *name, "Model name recorded in the file (default: the folder's name)");
  cmd->callback([dir, out, name] {
    check(bertrank_convert(dir->c_str(), out->c_str(), name->empty() ? nullptr : name->c_str()));
    // The converter has already loaded the file back and validated it; report what it holds.
    const Model m(*out);
    const bertrank_model_info i = m.info();
    std::printf("wrote %s: %s, %s, hidden %d, layers %d, vocab %d", out->c_str(), i.name,
                i.kind == BERTRANK_MODEL_EMBEDDING ? "embedding head" : "classifier head", i.dim, i.num_layers,
                i.vocab_size);
    if (i.kind == BERTRANK_MODEL_CROSS_ENCODER) std::printf(", %d labels", i.num_labels);
    std::printf(", max_seq_length %d\n", i.max_length);
  });
}

}  // namespace bertrank::cli

// `bertrank convert <hf model dir> -o weights/<name>.brm`: Hugging Face folder -> one .brm file.
#include <cstdio>

#include "model/convert.h"
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
    model::ConvertOptions opt;
    opt.name = *name;
    const nlohmann::json meta = model::convert_hf_dir(*dir, *out, opt);
    const auto& c = meta["config"];
    const auto& h = meta["head"];
    std::printf("wrote %s: %s (%s), hidden %d, layers %d, heads %d, ffn %d, vocab %d, head %s",
                out->c_str(), meta["source"]["name"].get<std::string>().c_str(),
                meta["architecture"].get<std::string>().c_str(), c["hidden_size"].get<int>(),
                c["num_hidden_layers"].get<int>(), c["num_attention_heads"].get<int>(),
                c["intermediate_size"].get<int>(), c["vocab_size"].get<int>(), h["type"].get<std::string>().c_str());
    if (h["type"] == "embedding")
      std::printf(" (pooling %s, normalize %s)", h["pooling"].get<std::string>().c_str(),
                  h["normalize"].get<bool>() ? "yes" : "no");
    std::printf(", max_seq_length %d\n", h["max_seq_length"].get<int>());
  });
}

}  // namespace bertrank::cli

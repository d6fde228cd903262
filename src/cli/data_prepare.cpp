// `goatlm data prepare NAME --out DIR`: fetch/convert a corpus and tokenize it into shards
// (data/corpus_prepare.h does the work).
#include <fmt/format.h>

#include "cli/commands.h"
#include "data/corpus_prepare.h"

namespace goat::cli {

void register_data(CLI::App& app) {
  auto* data_cmd = app.add_subcommand("data", "Corpus preparation");
  data_cmd->require_subcommand(1);
  auto* cmd = data_cmd->add_subcommand("prepare", "Fetch a corpus (gcide, brown) or take text PATHs, write shards");
  static data::PrepareOptions opt;
  static std::vector<std::string> positional;
  opt.tokenize.val_fraction = 0.1;
  cmd->add_option("name_and_paths", positional, "gcide | brown | text PATH...")->required()->expected(1, -1);
  cmd->add_option("--out", opt.tokenize.out_dir, "output directory (text/, shards, manifest.json)")->required();
  cmd->add_option("--tokenizer", opt.tokenize.tokenizer, "byte | gpt2:DIR | hf:FILE")->capture_default_str();
  cmd->add_option("--val-fraction", opt.tokenize.val_fraction, "fraction for val shards")->capture_default_str();
  cmd->add_option("--shard-tokens", opt.tokenize.shard_tokens, "tokens per shard")->capture_default_str();
  cmd->add_option("--threads", opt.tokenize.threads, "encoding threads (0: all)")->capture_default_str();
  cmd->callback([] {
    opt.name = positional.front();
    opt.paths.assign(positional.begin() + 1, positional.end());
    const auto r = data::prepare_corpus(opt);
    fmt::print("{}: {} documents, {:.1f} MB -> train {} tokens ({} shards), val {} tokens ({} shards); {}\n", opt.name,
               r.documents, static_cast<double>(r.bytes) * 1e-6, r.train.tokens, r.train.files.size(), r.val.tokens,
               r.val.files.size(), r.manifest_path);
  });
}

}  // namespace goat::cli

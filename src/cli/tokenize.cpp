// `goatlm tokenize`: text files/directories -> llm.c token shards + manifest.json
// (the pipeline is data/corpus_tokenize.h; this file only maps the command line onto it).
#include <fmt/format.h>

#include "cli/commands.h"
#include "data/corpus_tokenize.h"

namespace goat::cli {

void register_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Tokenize text files into llm.c-format train/val token shards");
  static data::TokenizeOptions opt;
  cmd->add_option("--tokenizer", opt.tokenizer, "byte | gpt2:DIR (encoder.json+vocab.bpe or vocab.json+merges.txt) | "
                                                "hf:FILE (tokenizer.json)")
      ->capture_default_str();
  cmd->add_option("--input", opt.inputs, "text files or directories (each file is one document)")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--out", opt.out_dir, "output directory for the shards and manifest.json")->required();
  cmd->add_option("--val-fraction", opt.val_fraction, "fraction of the text (in ~1 MB chunks) for val shards")
      ->capture_default_str();
  cmd->add_option("--shard-tokens", opt.shard_tokens, "tokens per shard")->capture_default_str();
  cmd->add_option("--threads", opt.threads, "encoding threads (0: all)")->capture_default_str();
  cmd->add_option("--chunk-bytes", opt.chunk_bytes, "bytes per work unit")->capture_default_str()->check(
      CLI::Range(int64_t{4096}, int64_t{1} << 30));
  static bool quiet = false;
  cmd->add_flag("--quiet", quiet, "no progress bar");
  cmd->callback([] {
    opt.progress = !quiet;
    const auto r = data::tokenize_corpus(opt);
    fmt::print("{} documents, {:.1f} MB in {:.2f} s ({:.1f} MB/s): train {} tokens in {} shards, val {} tokens in {} "
               "shards; {}\n",
               r.documents, static_cast<double>(r.bytes) * 1e-6, r.seconds,
               static_cast<double>(r.bytes) * 1e-6 / std::max(r.seconds, 1e-9), r.train.tokens, r.train.files.size(),
               r.val.tokens, r.val.files.size(), r.manifest_path);
    if (r.nul_bytes > 0)
      fmt::print(stderr, "warning: {} NUL bytes in the input read as end-of-text (id 0) with the byte tokenizer\n",
                 r.nul_bytes);
  });
}

}  // namespace goat::cli

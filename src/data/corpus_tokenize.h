// Corpus -> llm.c token shards, the engine behind `goatlm tokenize`.
// Inputs are files or directories (walked recursively, sorted, hidden entries skipped); each file
// is one document and is preceded by the end-of-text id (llm.c's fineweb convention), so a shard
// stream reads <eot> doc <eot> doc ... Files are read in chunks of about chunk_bytes, cut only at
// places where the GPT-2 pre-tokenizer is known to start a new piece (after a newline before a
// non-space, or at a space between two non-spaces), so chunked encoding gives exactly the ids of
// encoding each whole file. Batches of chunks are encoded in parallel (one tokenizer clone per
// thread) and written in input order, so memory stays constant (threads x 2 chunks) for any corpus
// size and the output does not depend on the thread count.
// Validation split: chunk k (counting from 0 over the whole corpus) goes to val when
// floor((k+1)*F) > floor(k*F): an even spread of about a fraction F of the text. Chunks are
// min(chunk_bytes, max(4 KB, corpus bytes / 64)) long, so small corpora still get a val split.
// Output: train_NNNNNN.bin / val_NNNNNN.bin of at most shard_tokens tokens, and manifest.json.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace goat::data {

struct TokenizeOptions {
  std::string tokenizer = "byte";   // make_tokenizer spec
  std::vector<std::string> inputs;  // files and/or directories
  std::string out_dir;
  double val_fraction = 0.0;            // [0, 1)
  int64_t shard_tokens = 100'000'000;   // llm.c's fineweb shard size
  int threads = 0;                      // 0: all (OpenMP default)
  int64_t chunk_bytes = 1 << 20;
  bool progress = true;                 // progress bar with MB/s on stderr
};

struct TokenizeSplit {
  int64_t tokens = 0;
  std::vector<std::string> files;
};

struct TokenizeReport {
  int64_t documents = 0, bytes = 0, nul_bytes = 0;
  TokenizeSplit train, val;
  double seconds = 0;
  std::string manifest_path;
};

TokenizeReport tokenize_corpus(const TokenizeOptions& opt);

// The input files of opt.inputs in the order tokenize_corpus reads them.
std::vector<std::string> list_input_files(const std::vector<std::string>& inputs);

// Largest cut position p in text[lo, hi] at which GPT-2 pre-tokenization starts a new piece
// (see above); 0 when there is none.
size_t find_safe_cut(std::string_view text, size_t lo, size_t hi);

// Hex SHA-256 of a file (OpenSSL EVP).
std::string sha256_file(const std::string& path);

}  // namespace goat::data

// The tokenizer interface every part of goatlm uses (tokenize, sample, eval, loaders).
// Implementations: ByteTokenizer (byte_tokenizer.h, always available), BpeTokenizer (bpe.h: GPT-2
// byte-level BPE from encoder.json + vocab.bpe, vocab.json + merges.txt, or a Hugging Face
// tokenizer.json). make_tokenizer() builds one from a spec string:
//   "byte" | "gpt2:DIR" | "hf:FILE"
// encode() treats its input as ordinary text: the string "<|endoftext|>" inside a document is
// encoded as the characters it contains, as the reference GPT-2 encoders do; the end-of-text id is
// inserted between documents by the caller (goatlm tokenize) via eot_id().
// Thread safety: a Tokenizer may keep a per-object encode cache, so one object must not encode on
// two threads at once; clone() gives a cheap copy (shared tables, own cache) for each thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace goat::data {

inline constexpr std::string_view kEndOfText = "<|endoftext|>";

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // A short description for manifests and logs, e.g. "byte", "gpt2:data/tokenizers/gpt2".
  virtual std::string name() const = 0;
  // Number of ids; every id produced is in [0, vocab_size()).
  virtual int64_t vocab_size() const = 0;
  // The id that separates documents (<|endoftext|>).
  virtual int32_t eot_id() const = 0;
  // Special tokens (name, id), <|endoftext|> included.
  virtual std::vector<std::pair<std::string, int32_t>> special_tokens() const = 0;

  // Appends the ids of text to out.
  virtual void encode(std::string_view text, std::vector<int32_t>& out) = 0;
  // Appends the ids of text that continues a document already partly encoded (cut where the
  // pre-tokenizer starts a new piece): like encode() but without start-of-text behaviour such as
  // tokenizer.json's add_prefix_space.
  virtual void encode_continued(std::string_view text, std::vector<int32_t>& out) { encode(text, out); }
  // The bytes the ids stand for (special tokens decode to their names, except where the
  // implementation documents otherwise).
  virtual std::string decode(std::span<const int32_t> ids) const = 0;

  // A copy safe to use on another thread (shares immutable tables).
  virtual std::unique_ptr<Tokenizer> clone() const = 0;

  std::vector<int32_t> encode(std::string_view text) {
    std::vector<int32_t> out;
    encode(text, out);
    return out;
  }
  std::optional<int32_t> special_token(std::string_view name) const {
    for (const auto& [n, id] : special_tokens()) {
      if (n == name) return id;
    }
    return std::nullopt;
  }
};

// Builds a tokenizer from "byte", "gpt2:DIR" or "hf:FILE"; errors name the spec and the file.
std::unique_ptr<Tokenizer> make_tokenizer(std::string_view spec);

}  // namespace goat::data

// The built-in synthetic corpora (the default data source, so nothing needs downloading), from
// extrapolation.md. Every generator is a pure function of (config, seed, split): the same seed
// gives the same tokens on every machine. Tokens are printable bytes (the byte tokenizer's ids),
// documents end with '\n', so samples read as text.
//
//   repeat        a stream of letters from a fixed random bigram chain, cut into 16–32-symbol
//                 segments, some of which copy an earlier segment from up to max_distance back
//                 (loss on the repeats measures how far back the model retrieves)
//   passkey       filler text with "the pass key is NNNNN." at a random depth, then the question
//   assoc         associative recall: "ab:3 cd:7 ... ?cd:7 ?ab:3"
//   copy          a random string, '|', the same string
//   copy-mixture  each token copies the document's first token, copies the previous token, or is
//                 noise (provokes an attention sink at tiny scale)
#pragma once

#include <cstdint>
#include <vector>

#include "config/config.h"

namespace goat::data {

enum class Split : uint32_t { train = 0, val = 1 };

// n_tokens tokens of task s.task. seq_len is the training length (defaults of doc_len and
// max_distance derive from it).
std::vector<uint16_t> generate_synthetic(const SyntheticConfig& s, int64_t seq_len, int64_t n_tokens, Split split);

// Unigram entropy (nats) of a token stream: the loss of the best context-free predictor.
double unigram_entropy(const std::vector<uint16_t>& tokens, int64_t vocab_size);

}  // namespace goat::data

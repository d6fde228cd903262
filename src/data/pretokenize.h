// The GPT-2 pre-tokenizer: splits text into the pieces the JavaScript reference (npm gpt-3-encoder)
// and OpenAI's encoder.py find with the regular expression
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// implemented directly as a scanner over character classes (unicode.h), with no regex engine.
// At each position the alternatives are tried in the regex's order:
//   1. ASCII apostrophe + s|t|m|d (2 bytes) or re|ve|ll (3 bytes), case-sensitive;
//   2-4. an optional U+0020 followed by a maximal run of Letters / Numbers / Others;
//   5. \s+(?!\S): a whitespace run reaching the end of text is taken whole; otherwise the run minus
//      its last character (which then joins the following word via " ?" or stands alone);
//   6. \s+: a single whitespace character before a non-space.
// Invalid UTF-8 bytes are units of class Other (unicode.h), so every byte lands in exactly one piece
// and the pieces concatenate to the input.
#pragma once

#include <string_view>

#include "data/unicode.h"

namespace goat::data {

// Byte length of the piece that starts at text[i] (i < text.size()).
size_t gpt2_piece_length(std::string_view text, size_t i);

// Calls f(std::string_view piece) for each piece of text, in order.
template <typename F>
void for_each_gpt2_piece(std::string_view text, F&& f) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t n = gpt2_piece_length(text, i);
    f(text.substr(i, n));
    i += n;
  }
}

}  // namespace goat::data

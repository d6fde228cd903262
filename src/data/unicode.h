// Character classes for the GPT-2 pre-tokenizer, and a UTF-8 decoder with goatlm's policy for
// invalid input. Classes come from generated range tables (unicode_tables.cpp, written by
// scripts/gen_unicode_tables.py from node's regex classes): Letter = \p{L}, Number = \p{N},
// Space = JavaScript's \s (the reference encoder's regex), Other = everything else.
// Invalid UTF-8 policy: a byte that does not start a well-formed sequence (Unicode Table 3-7: no
// overlongs, no surrogates, nothing above U+10FFFF, no truncated sequence) decodes as a single
// "invalid byte" unit of length 1 and class Other, so it is kept verbatim (byte-level BPE encodes
// it as its byte) and decode(encode(x)) == x holds for any bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace goat::data {

struct CodeRange {
  uint32_t lo, hi;  // inclusive
};

namespace unicode_tables {
extern const char* const kUnicodeVersion;
extern const std::span<const CodeRange> kLetterRanges;
extern const std::span<const CodeRange> kNumberRanges;
extern const std::span<const CodeRange> kSpaceRanges;
}  // namespace unicode_tables

enum class CharClass : uint8_t { Other = 0, Letter = 1, Number = 2, Space = 3 };

// The class of a code point (cp < 0x110000); O(1) through a table built on first use.
CharClass char_class(uint32_t cp);

// Decodes one unit at s[i] (i < s.size()): sets len (1..4) and returns the code point, or returns
// kInvalidUnit with len 1 for a byte that does not start a well-formed sequence.
inline constexpr uint32_t kInvalidUnit = 0xFFFFFFFFu;
uint32_t decode_utf8(std::string_view s, size_t i, int& len);

// The class of the unit decode_utf8 returned (invalid bytes are Other).
inline CharClass unit_class(uint32_t cp) { return cp == kInvalidUnit ? CharClass::Other : char_class(cp); }

}  // namespace goat::data

// Character class lookup (one byte per code point, 1.1 MB, built once from the range tables) and
// the strict UTF-8 decoder described in unicode.h.
#include "data/unicode.h"

#include <vector>

namespace goat::data {

namespace {
std::vector<uint8_t> build_class_table() {
  std::vector<uint8_t> t(0x110000, static_cast<uint8_t>(CharClass::Other));
  auto fill = [&](std::span<const CodeRange> ranges, CharClass c) {
    for (const auto& r : ranges)
      for (uint32_t cp = r.lo; cp <= r.hi; ++cp) t[cp] = static_cast<uint8_t>(c);
  };
  fill(unicode_tables::kLetterRanges, CharClass::Letter);
  fill(unicode_tables::kNumberRanges, CharClass::Number);
  fill(unicode_tables::kSpaceRanges, CharClass::Space);  // disjoint from L and N
  return t;
}
}  // namespace

CharClass char_class(uint32_t cp) {
  static const std::vector<uint8_t> table = build_class_table();
  return cp < 0x110000 ? static_cast<CharClass>(table[cp]) : CharClass::Other;
}

uint32_t decode_utf8(std::string_view s, size_t i, int& len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  const unsigned c0 = p[i];
  len = 1;
  if (c0 < 0x80) return c0;
  auto cont = [&](size_t k, unsigned lo, unsigned hi) { return i + k < n && p[i + k] >= lo && p[i + k] <= hi; };
  if (c0 >= 0xC2 && c0 <= 0xDF) {
    if (!cont(1, 0x80, 0xBF)) return kInvalidUnit;
    len = 2;
    return ((c0 & 0x1F) << 6) | (p[i + 1] & 0x3F);
  }
  if (c0 >= 0xE0 && c0 <= 0xEF) {
    const unsigned lo = c0 == 0xE0 ? 0xA0 : 0x80, hi = c0 == 0xED ? 0x9F : 0xBF;  // no overlong, no surrogate
    if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF)) return kInvalidUnit;
    len = 3;
    return ((c0 & 0x0F) << 12) | ((p[i + 1] & 0x3F) << 6) | (p[i + 2] & 0x3F);
  }
  if (c0 >= 0xF0 && c0 <= 0xF4) {
    const unsigned lo = c0 == 0xF0 ? 0x90 : 0x80, hi = c0 == 0xF4 ? 0x8F : 0xBF;  // no overlong, <= U+10FFFF
    if (!cont(1, lo, hi) || !cont(2, 0x80, 0xBF) || !cont(3, 0x80, 0xBF)) return kInvalidUnit;
    len = 4;
    return ((c0 & 0x07) << 18) | ((p[i + 1] & 0x3F) << 12) | ((p[i + 2] & 0x3F) << 6) | (p[i + 3] & 0x3F);
  }
  return kInvalidUnit;
}

}  // namespace goat::data

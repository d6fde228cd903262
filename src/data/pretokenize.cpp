// GPT-2 pre-tokenization scanner (see pretokenize.h for the rules it reproduces). ASCII takes a
// table lookup; other characters go through the strict UTF-8 decoder and the class table.
#include "data/pretokenize.h"

#include <array>

namespace goat::data {

namespace {

struct Unit {
  CharClass cls;
  int len;
};

constexpr std::array<CharClass, 128> make_ascii_classes() {
  std::array<CharClass, 128> t{};
  for (int c = 0; c < 128; ++c) {
    CharClass k = CharClass::Other;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) k = CharClass::Letter;
    if (c >= '0' && c <= '9') k = CharClass::Number;
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) k = CharClass::Space;  // JS \s in ASCII
    t[static_cast<size_t>(c)] = k;
  }
  return t;
}
constexpr std::array<CharClass, 128> kAscii = make_ascii_classes();

inline Unit unit_at(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return {kAscii[c], 1};
  int len = 1;
  const uint32_t cp = decode_utf8(s, i, len);
  return {unit_class(cp), len};
}

// End of the maximal run of class cls starting at i.
inline size_t run_end(std::string_view s, size_t i, CharClass cls) {
  while (i < s.size()) {
    const Unit u = unit_at(s, i);
    if (u.cls != cls) break;
    i += static_cast<size_t>(u.len);
  }
  return i;
}

inline size_t contraction_length(std::string_view s, size_t i) {
  // s[i] == '\''
  if (i + 1 >= s.size()) return 0;
  const char a = s[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= s.size()) return 0;
  const char b = s[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

}  // namespace

size_t gpt2_piece_length(std::string_view s, size_t i) {
  if (s[i] == '\'') {
    if (const size_t n = contraction_length(s, i)) return n;
  }
  if (s[i] == ' ' && i + 1 < s.size()) {
    const Unit next = unit_at(s, i + 1);
    if (next.cls != CharClass::Space) return run_end(s, i + 1, next.cls) - i;  // " ?" + run
  }
  const Unit u = unit_at(s, i);
  if (u.cls != CharClass::Space) return run_end(s, i, u.cls) - i;
  // Whitespace: find the run and the start of its last unit.
  size_t j = i, last = i;
  while (j < s.size()) {
    const Unit w = unit_at(s, j);
    if (w.cls != CharClass::Space) break;
    last = j;
    j += static_cast<size_t>(w.len);
  }
  if (j == s.size()) return j - i;      // \s+(?!\S) at the end of text
  if (last > i) return last - i;        // \s+(?!\S): leave the last space for the next piece
  return j - i;                         // \s+: one whitespace character before a non-space
}

}  // namespace goat::data

// Byte tokenizer: ids are the bytes, vocab 256, end-of-text is id 0, decode inverts encode for
// every byte string; make_tokenizer("byte") builds it and rejects unknown specs.
#include <gtest/gtest.h>

#include "core/check.h"
#include "data/byte_tokenizer.h"

namespace goat::data {
namespace {

TEST(ByteTokenizer, IdsAreBytesAndRoundTrip) {
  auto tok = make_tokenizer("byte");
  EXPECT_EQ(tok->vocab_size(), 256);
  EXPECT_EQ(tok->eot_id(), 0);
  EXPECT_EQ(tok->special_token("<|endoftext|>"), std::optional<int32_t>(0));
  std::string all;
  for (int b = 255; b >= 0; --b) all.push_back(static_cast<char>(b));
  const auto ids = tok->encode(all);
  ASSERT_EQ(ids.size(), 256u);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(ids[static_cast<size_t>(i)], 255 - i);
  EXPECT_EQ(tok->decode(ids), all);
  EXPECT_EQ(tok->clone()->encode("h\xc3\xa9"), (std::vector<int32_t>{'h', 0xc3, 0xa9}));
}

TEST(ByteTokenizer, RejectsBadIdsAndSpecs) {
  ByteTokenizer tok;
  const std::vector<int32_t> bad = {65, 256};
  EXPECT_THROW(tok.decode(bad), Error);
  EXPECT_THROW(make_tokenizer("bpe"), Error);
}

}  // namespace
}  // namespace goat::data

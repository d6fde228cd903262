// SHA-256 via EVP_Digest*, streaming files in 1 MiB blocks.
#include "core/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "core/check.h"

namespace goat {

namespace {

struct MdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  MdCtx() {
    GOAT_CHECK(ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1, "sha256", "EVP init failed");
  }
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
  void update(const void* p, size_t n) { GOAT_CHECK(EVP_DigestUpdate(ctx, p, n) == 1, "sha256", "EVP update failed"); }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    GOAT_CHECK(EVP_DigestFinal_ex(ctx, md, &len) == 1, "sha256", "EVP final failed");
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned int i = 0; i < len; ++i) {
      s += digits[md[i] >> 4];
      s += digits[md[i] & 15];
    }
    return s;
  }
};

}  // namespace

std::string sha256_hex(const void* data, size_t bytes) {
  MdCtx c;
  c.update(data, bytes);
  return c.hex();
}

FileDigest sha256_file(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  GOAT_CHECK(f != nullptr, "sha256", "cannot open '{}': {}", path, std::strerror(errno));
  MdCtx c;
  FileDigest d;
  std::vector<char> buf(1 << 20);
  size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), f.get())) > 0) {
    c.update(buf.data(), n);
    d.bytes += n;
  }
  GOAT_CHECK(std::ferror(f.get()) == 0, "sha256", "read error in '{}'", path);
  d.sha256 = c.hex();
  return d;
}

}  // namespace goat

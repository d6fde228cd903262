// Host SIMT emulation: static shared memory discovery (see smem.h). The symbol tables are read
// once per process (ELF64 .symtab of every module with a TLS segment; a stripped binary simply
// yields no template-kernel regions); the per-thread addresses are the module's TLS block
// (dl_iterate_phdr's dlpi_tls_data) plus each TLS symbol's st_value, which in executables and
// shared objects is the offset within the module's TLS segment.
#include "simt/emu/smem.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <utility>

// Keeps the goat_shared TLS section present even when no kernel declares static shared memory.
[[gnu::used]] __attribute__((section("goat_shared"))) thread_local unsigned char goat_shared_anchor_[16];
extern "C" {
extern char __start_goat_shared[] __attribute__((weak));
extern char __stop_goat_shared[] __attribute__((weak));
}

namespace goat::simt::detail {
namespace {

using Spans = std::vector<std::pair<size_t, size_t>>;  // (offset in TLS segment, bytes)

// TLS symbols of function-local statics inside functions whose name contains "_kernel".
Spans kernel_statics(const std::string& path) {
  Spans out;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    close(fd);
    return out;
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return out;
  const auto* base = static_cast<const unsigned char*>(map);
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  const bool elf64 = std::memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_ident[EI_CLASS] == ELFCLASS64;
  if (elf64 && eh->e_shoff && eh->e_shoff + size_t{eh->e_shnum} * sizeof(Elf64_Shdr) <= size) {
    const auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; ++i) {
      if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
      const Elf64_Shdr& strtab = sh[sh[i].sh_link];
      if (sh[i].sh_offset + sh[i].sh_size > size || strtab.sh_offset + strtab.sh_size > size) continue;
      const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + sh[i].sh_offset);
      const char* names = reinterpret_cast<const char*>(base + strtab.sh_offset);
      for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); ++k) {
        const Elf64_Sym& s = syms[k];
        if (ELF64_ST_TYPE(s.st_info) != STT_TLS || s.st_shndx == SHN_UNDEF || s.st_size == 0 ||
            s.st_name >= strtab.sh_size)
          continue;
        const char* name = names + s.st_name;
        if (std::strncmp(name, "_ZZ", 3) != 0) continue;  // function-local static (not a guard)
        const char* fn_end = std::strrchr(name, 'E');     // the local name follows the last 'E'
        const std::string fn(name, fn_end ? static_cast<size_t>(fn_end - name) : std::strlen(name));
        if (fn.find("_kernel") != std::string::npos) out.emplace_back(s.st_value, s.st_size);
      }
    }
  }
  munmap(map, size);
  std::sort(out.begin(), out.end());
  return out;
}

const Spans& kernel_statics_cached(const std::string& path) {
  static std::mutex m;
  static std::map<std::string, Spans> cache;
  std::lock_guard<std::mutex> lk(m);
  auto it = cache.find(path);
  if (it == cache.end()) it = cache.emplace(path, kernel_statics(path)).first;
  return it->second;
}

struct ThreadRegions {
  std::vector<Region> shared, blocks;
};

ThreadRegions find_regions() {
  ThreadRegions r;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* r = static_cast<ThreadRegions*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_TLS || !info->dlpi_tls_data) continue;
          auto* block = static_cast<unsigned char*>(info->dlpi_tls_data);
          r->blocks.push_back(Region{block, ph.p_memsz});
          const uintptr_t lo = info->dlpi_addr + ph.p_vaddr;
          const auto start = reinterpret_cast<uintptr_t>(__start_goat_shared);
          if (start && start >= lo && start < lo + ph.p_memsz)
            r->shared.push_back(
                Region{block + (start - lo), static_cast<size_t>(__stop_goat_shared - __start_goat_shared)});
          const std::string path = (info->dlpi_name && *info->dlpi_name) ? info->dlpi_name : "/proc/self/exe";
          for (const auto& [off, bytes] : kernel_statics_cached(path))
            if (off + bytes <= ph.p_memsz) r->shared.push_back(Region{block + off, bytes});
        }
        return 0;
      },
      &r);
  return r;
}

const ThreadRegions& regions() {
  thread_local const ThreadRegions r = find_regions();
  return r;
}

}  // namespace

const std::vector<Region>& static_shared_regions() { return regions().shared; }
const std::vector<Region>& tls_blocks() { return regions().blocks; }

}  // namespace goat::simt::detail

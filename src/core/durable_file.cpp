// DurableFile: write(2) loop with errno messages, fsync + rename + directory fsync on commit,
// removal of the temporary file on abandon.
#include "core/durable_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/check.h"

namespace goat {

DurableFile::DurableFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  GOAT_CHECK(fd_ >= 0, "io", "cannot create '{}': {}", tmp_, std::strerror(errno));
}

DurableFile::~DurableFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void DurableFile::write(const void* data, size_t bytes) {
  GOAT_CHECK(fd_ >= 0, "io", "'{}': write after commit", tmp_);
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd_, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n == 0 ? EIO : errno;
      fail("io", "write to '{}' failed: {}{}", tmp_, std::strerror(e),
           e == ENOSPC || e == EFBIG || e == EDQUOT ? " (disk full or file size limit)" : "");
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
}

void DurableFile::commit() {
  GOAT_CHECK(fd_ >= 0, "io", "'{}': committed twice", path_);
  const bool synced = ::fsync(fd_) == 0;
  const int sync_errno = errno;
  const bool closed = ::close(fd_) == 0;
  fd_ = -1;
  if (!synced || !closed) {
    ::unlink(tmp_.c_str());
    fail("io", "fsync/close of '{}' failed: {}", tmp_, std::strerror(synced ? errno : sync_errno));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp_.c_str());
    fail("io", "rename '{}' -> '{}' failed: {}", tmp_, path_, std::strerror(e));
  }
  const auto parent = std::filesystem::path(path_).parent_path();
  sync_dir(parent.empty() ? "." : parent.string());
}

void sync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  GOAT_CHECK(fd >= 0, "io", "cannot open directory '{}': {}", dir, std::strerror(errno));
  const bool ok = ::fsync(fd) == 0;
  const int e = errno;
  ::close(fd);
  GOAT_CHECK(ok, "io", "fsync of directory '{}' failed: {}", dir, std::strerror(e));
}

void write_file_atomic(const std::string& path, const void* data, size_t bytes) {
  DurableFile f(path);
  f.write(data, bytes);
  f.commit();
}

}  // namespace goat

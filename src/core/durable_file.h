// Durable, atomic file writes for checkpoints and weights.
//
// DurableFile writes PATH.tmp with POSIX write(2), so a failure (ENOSPC, EFBIG, EIO, EACCES)
// becomes an Error naming the file and the OS reason instead of a silently short file. commit()
// fsyncs, closes, renames PATH.tmp to PATH and fsyncs the parent directory, so after a crash a
// reader sees the old PATH or the whole new one, never a torn file. Abandoning a DurableFile
// (an exception) removes PATH.tmp and leaves PATH untouched.
#pragma once

#include <cstddef>
#include <string>

namespace goat {

class DurableFile {
 public:
  explicit DurableFile(std::string path);  // creates or truncates path + ".tmp"
  ~DurableFile();                          // uncommitted: path + ".tmp" is closed and removed
  DurableFile(const DurableFile&) = delete;
  DurableFile& operator=(const DurableFile&) = delete;

  void write(const void* data, size_t bytes);
  void commit();  // fsync, close, rename into place, fsync the directory
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  int fd_ = -1;
};

// fsyncs a directory, making the renames and creations inside it durable.
void sync_dir(const std::string& dir);

// One DurableFile holding `bytes`.
void write_file_atomic(const std::string& path, const void* data, size_t bytes);

}  // namespace goat

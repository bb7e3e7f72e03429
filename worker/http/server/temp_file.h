// TempFile: a file of our own in a temporary directory (DATA_DIR/tmp), mode
// 0600, removed when the object goes unless Release()d. Used for streamed
// request bodies, extracted multipart parts and downloaded media, so none is
// ever held whole in memory and none outlives its request. Not thread-safe;
// one owner at a time (movable).
#ifndef DYNOGUARD_WORKER_HTTP_SERVER_TEMP_FILE_H_
#define DYNOGUARD_WORKER_HTTP_SERVER_TEMP_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/unique_fd.h"

namespace dynoguard::worker::http_server {

class TempFile {
 public:
  TempFile() = default;
  // Removes the file (if any and not released).
  ~TempFile();
  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&& other) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  // Creates `dir`/`prefix`XXXXXX (a unique name, O_EXCL, 0600, close-on-exec)
  // open for writing; `dir` is created (0700) when missing. Errors: IOError
  // naming the directory.
  static common::Result<TempFile> Create(const std::string& dir,
                                         std::string_view prefix);

  // Appends all of `data`. Errors: IOError (disk full, …).
  common::Status Write(std::string_view data);
  // Closes the descriptor (the file stays until destruction).
  void CloseFd() { fd_.Reset(); }

  const std::string& path() const { return path_; }
  uint64_t bytes() const { return bytes_; }
  bool valid() const { return !path_.empty(); }
  int fd() const { return fd_.get(); }

  // Removes the file now (idempotent).
  void Remove();
  // Gives up ownership: the file stays; returns its path.
  std::string Release();

 private:
  common::UniqueFd fd_;
  std::string path_;
  uint64_t bytes_ = 0;
};

}  // namespace dynoguard::worker::http_server

#endif  // DYNOGUARD_WORKER_HTTP_SERVER_TEMP_FILE_H_

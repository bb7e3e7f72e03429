// UniqueFd: a move-only owner of a file descriptor that closes it on
// destruction.
#ifndef DYNOGUARD_COMMON_UNIQUE_FD_H_
#define DYNOGUARD_COMMON_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace dynoguard::common {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership; the caller closes the returned fd.
  int Release() { return std::exchange(fd_, -1); }
  // Closes the owned fd (if any) and takes `fd`.
  void Reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace dynoguard::common

#endif  // DYNOGUARD_COMMON_UNIQUE_FD_H_

#include "api/file_io.h"

#include <c10/util/Exception.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <system_error>
#include <utility>

namespace mtsnn::detail {
namespace {

std::string reason(int error) { return std::generic_category().message(error); }

// Closes a file descriptor when it goes out of scope, unless release() took it.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

void fsync_directory(const std::string& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  TORCH_CHECK(fd.get() >= 0, directory, ": cannot open the directory to sync it: ", reason(errno));
  TORCH_CHECK(::fsync(fd.get()) == 0, directory, ": cannot sync the directory: ", reason(errno));
}

// A new file next to target (O_EXCL, so never someone else's), created with mode 0666 less the
// umask as any new file; mkstemp's 0600 would hide results from other users.
FileDescriptor create_temporary(const std::string& target, std::string& name) {
  static std::atomic<uint64_t> counter{0};
  const std::string directory = parent_directory(target);
  const std::string base = target.substr(target.rfind('/') + 1);  // npos + 1: all of it
  for (int attempt = 0;; ++attempt) {
    name = join_path(directory, "." + base + "." + std::to_string(::getpid()) + "-" +
                                    std::to_string(counter++) + ".tmp");
    FileDescriptor fd(::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    // EEXIST: a leftover of a crashed process that had the same pid; try the next name.
    if (fd.get() >= 0 || errno != EEXIST || attempt == 100) {
      TORCH_CHECK(fd.get() >= 0, target, ": cannot create a temporary file ", name, ": ",
                  reason(errno));
      return fd;
    }
  }
}

void write_all(int fd, std::string_view data, const std::string& name) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t wrote = ::write(fd, data.data() + done, data.size() - done);
    if (wrote < 0 && errno == EINTR) {
      continue;
    }
    TORCH_CHECK(wrote > 0, name, ": cannot write: ", reason(errno));
    done += static_cast<size_t>(wrote);
  }
}

}  // namespace

std::string read_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not regular).
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  TORCH_CHECK(fd.get() >= 0, path, ": cannot open: ", reason(errno));
  struct stat info {};
  TORCH_CHECK(::fstat(fd.get(), &info) == 0, path, ": cannot stat: ", reason(errno));
  TORCH_CHECK(S_ISREG(info.st_mode), path, ": not a regular file");
  std::string data(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t got = ::read(fd.get(), data.data() + done, data.size() - done);
    if (got < 0 && errno == EINTR) {
      continue;
    }
    TORCH_CHECK(got >= 0, path, ": cannot read: ", reason(errno));
    TORCH_CHECK(got > 0, path, ": shrank from ", data.size(), " to ", done,
                " bytes while being read");
    done += static_cast<size_t>(got);
  }
  return data;
}

void write_file_atomic(const std::string& path, std::string_view data) {
  std::string temporary;
  FileDescriptor fd = create_temporary(path, temporary);
  try {
    write_all(fd.get(), data, temporary);
    TORCH_CHECK(::fsync(fd.get()) == 0, temporary, ": cannot sync: ", reason(errno));
    TORCH_CHECK(::close(fd.release()) == 0, temporary, ": cannot close: ", reason(errno));
    TORCH_CHECK(::rename(temporary.c_str(), path.c_str()) == 0, path, ": cannot rename ", temporary,
                " onto it: ", reason(errno));
  } catch (...) {
    ::unlink(temporary.c_str());
    throw;
  }
  const std::string directory = parent_directory(path);
  fsync_directory(directory.empty() ? "." : directory);
}

bool is_directory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

bool is_regular_file(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

void create_directories(const std::string& path) {
  // Each prefix ending before a "/", then path itself.
  for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    if (::mkdir(prefix.c_str(), 0777) != 0) {
      const int error = errno;
      TORCH_CHECK(error == EEXIST && is_directory(prefix), path, ": cannot create the directory ",
                  prefix, ": ", error == EEXIST ? "a file is in the way" : reason(error));
    }
    if (end == std::string::npos) {
      return;
    }
  }
}

std::vector<std::string> list_directory(const std::string& directory) {
  const std::unique_ptr<DIR, int (*)(DIR*)> stream(::opendir(directory.c_str()), ::closedir);
  TORCH_CHECK(stream != nullptr, directory, ": cannot list the directory: ", reason(errno));
  std::vector<std::string> names;
  for (;;) {
    errno = 0;  // readdir returns nullptr both at the end and on an error
    const dirent* entry = ::readdir(stream.get());
    if (entry == nullptr) {
      TORCH_CHECK(errno == 0, directory, ": cannot list the directory: ", reason(errno));
      return names;
    }
    const std::string name = entry->d_name;
    if (name != "." && name != "..") {
      names.push_back(name);
    }
  }
}

void remove_file(const std::string& path) {
  TORCH_CHECK(::unlink(path.c_str()) == 0, path, ": cannot delete: ", reason(errno));
}

std::string join_path(const std::string& directory, const std::string& name) {
  if (directory.empty()) {
    return name;
  }
  return directory.back() == '/' ? directory + name : directory + "/" + name;
}

std::string parent_directory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return "";
  }
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace mtsnn::detail

// What the I/O tests (test_safetensors, test_checkpoint, test_data) share: error expectations,
// file helpers and a temporary directory per test. POSIX only, as csrc/api/file_io.h explains:
// std::filesystem functions may bind to libtorch.so's broken copies.
#pragma once

#include <c10/util/Exception.h>
#include <dirent.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <sstream>
#include <string>

namespace mtsnn_test {

// Runs f, which must throw a c10::Error whose message contains every one of parts.
inline void expect_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
  } catch (const c10::Error& error) {
    const std::string message = error.what_without_backtrace();
    for (const std::string& part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
    return;
  }
  ADD_FAILURE() << "no c10::Error thrown";
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

inline bool exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

// Entries in directory, without "." and "..".
inline int count_entries(const std::string& directory) {
  DIR* stream = ::opendir(directory.c_str());
  EXPECT_NE(stream, nullptr) << directory;
  int count = 0;
  while (stream != nullptr) {
    const dirent* entry = ::readdir(stream);
    if (entry == nullptr) {
      ::closedir(stream);
      break;
    }
    const std::string name = entry->d_name;
    count += name != "." && name != ".." ? 1 : 0;
  }
  return count;
}

// A fresh directory for each test (dir_), deleted with its content afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "mtsnn_io_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }

  void TearDown() override {
    const auto remove = [](const char* path, const struct stat*, int, struct FTW*) {
      return std::remove(path);
    };
    EXPECT_EQ(::nftw(dir_.c_str(), remove, 16, FTW_DEPTH | FTW_PHYS), 0) << dir_;
  }

  // name inside the test's directory.
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
};

}  // namespace mtsnn_test

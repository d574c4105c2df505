// File access with errors that name the file: whole-file reads, atomic and durable writes, and
// the few directory operations checkpoints need.
//
// These use POSIX directly rather than std::filesystem: libtorch.so exports its own copies of
// std::filesystem's functions, which the dynamic linker may bind in place of libstdc++'s, and
// some of those crash (remove_all calls a weak symbol that is never resolved).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mtsnn::detail {

// The content of the regular file at path. Throws c10::Error naming path (and the system's
// reason) when it is missing, not a regular file, or cannot be read.
std::string read_file(const std::string& path);

// Replaces path's content with data so that readers see the old file or the new one, never a
// partial one, and the new one survives a power cut: the bytes go to a temporary file in the same
// directory, which is fsynced and renamed onto path, then the directory is fsynced (like Python's
// mtsnn.training.fileio.atomic_write). The directory must exist. Throws c10::Error naming the
// file on any failure, after removing the temporary file.
void write_file_atomic(const std::string& path, std::string_view data);

// Whether path is (after following symbolic links) a directory, or a regular file.
bool is_directory(const std::string& path);
bool is_regular_file(const std::string& path);

// Creates the directory path and its missing parents (mkdir -p). Throws c10::Error naming the
// directory that cannot be created.
void create_directories(const std::string& path);

// The names in directory, without "." and "..". Throws c10::Error naming it when unreadable.
std::vector<std::string> list_directory(const std::string& directory);

// Deletes the file at path. Throws c10::Error naming it on failure.
void remove_file(const std::string& path);

// name inside directory: "directory/name", or name alone when directory is "".
std::string join_path(const std::string& directory, const std::string& name);

// The directory part of path: "" for a bare name, "/" for a file in the root.
std::string parent_directory(const std::string& path);

}  // namespace mtsnn::detail

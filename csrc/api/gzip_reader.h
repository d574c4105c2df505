// Decompressing gzip data piece by piece, so that a reader can check what it has read before it
// allocates for the rest.
#pragma once

#include <zlib.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace mtsnn::detail {

// The decompressed content of gzip bytes, as Python's gzip.GzipFile reads it: the members one
// after the other, zero bytes allowed between and after them, each member's CRC and length
// checked when its end is reached.
class GzipReader {
 public:
  // compressed must outlive the reader; source_name starts the error messages.
  GzipReader(std::string_view compressed, std::string source_name);
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;
  ~GzipReader();

  // Fills out[0, size) with the next decompressed bytes and returns how many it wrote: fewer
  // than size only at the end of the data. Throws c10::ValueError "<source>: corrupt gzip data
  // (...)" when the data is corrupt or ends before the end of a member.
  size_t read(char* out, size_t size);

 private:
  // Hands zlib the next input, at most what its 32-bit counter takes.
  void feed();

  z_stream stream_{};
  // Input not yet handed to zlib.
  const unsigned char* next_;
  size_t left_;
  std::string source_;
  bool finished_ = false;
};

}  // namespace mtsnn::detail

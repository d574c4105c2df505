#include "api/gzip_reader.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <utility>

namespace mtsnn::detail {
namespace {

// zlib counts bytes in 32-bit unsigned ints; larger buffers go in pieces of this size.
constexpr size_t kPiece = size_t{1} << 30;

// windowBits for inflateInit2: the largest window, gzip wrapper only.
constexpr int kGzipOnly = 16 + MAX_WBITS;

}  // namespace

GzipReader::GzipReader(std::string_view compressed, std::string source_name)
    : next_(reinterpret_cast<const unsigned char*>(compressed.data())),
      left_(compressed.size()),
      source_(std::move(source_name)) {
  const int status = inflateInit2(&stream_, kGzipOnly);
  TORCH_CHECK(status == Z_OK, source_, ": cannot start decompressing (", zError(status), ")");
  feed();
}

GzipReader::~GzipReader() { inflateEnd(&stream_); }

void GzipReader::feed() {
  const size_t piece = std::min(left_, kPiece);
  stream_.next_in = const_cast<unsigned char*>(next_);  // zlib's API is not const-correct
  stream_.avail_in = static_cast<uInt>(piece);
  next_ += piece;
  left_ -= piece;
}

size_t GzipReader::read(char* out, size_t size) {
  size_t done = 0;
  while (done < size && !finished_) {
    if (stream_.avail_in == 0 && left_ > 0) {
      feed();
    }
    stream_.next_out = reinterpret_cast<unsigned char*>(out + done);
    stream_.avail_out = static_cast<uInt>(std::min(size - done, kPiece));
    const uInt room = stream_.avail_out;
    const int status = inflate(&stream_, Z_NO_FLUSH);
    done += room - stream_.avail_out;
    if (status == Z_STREAM_END) {
      // The member ended (its CRC and length verified). Skip zero padding, then either the data
      // ends or another member follows.
      next_ = stream_.next_in;
      left_ += stream_.avail_in;
      while (left_ > 0 && *next_ == 0) {
        ++next_;
        --left_;
      }
      finished_ = left_ == 0;
      TORCH_CHECK(inflateReset(&stream_) == Z_OK, source_, ": cannot restart decompressing");
      stream_.avail_in = 0;
      continue;
    }
    const bool starved = status == Z_BUF_ERROR && stream_.avail_in == 0 && left_ == 0;
    TORCH_CHECK_VALUE(!starved, source_,
                      ": corrupt gzip data (the compressed data ends before the end-of-stream "
                      "marker; truncated file?)");
    TORCH_CHECK_VALUE(status == Z_OK, source_, ": corrupt gzip data (",
                      stream_.msg != nullptr ? stream_.msg : zError(status), ")");
  }
  return done;
}

}  // namespace mtsnn::detail

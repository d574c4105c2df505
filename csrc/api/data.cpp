// IDX files: a big-endian magic number (0x00000803 for uint8 images, 0x00000801 for uint8
// labels), one big-endian uint32 per dimension, then the bytes, C order.
#include "mtsnn/data.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "api/file_io.h"
#include "api/gzip_reader.h"

namespace mtsnn::data {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
// Deflate cannot expand data by more than about 1032:1, which bounds what a .gz file can hold.
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr int64_t kClasses = 10;

// Fills out[0, size) with the next bytes; returns fewer only at the end of the data.
using Read = std::function<size_t(char* out, size_t size)>;

uint32_t big_endian(const unsigned char* bytes) {
  return uint32_t{bytes[0]} << 24 | uint32_t{bytes[1]} << 16 | uint32_t{bytes[2]} << 8 |
         uint32_t{bytes[3]};
}

std::string hex8(uint32_t value) {
  std::array<char, 16> text{};
  std::snprintf(text.data(), text.size(), "0x%08x", value);
  return text.data();
}

std::string join_dims(const std::vector<int64_t>& dims) {
  std::string out;
  for (const int64_t dim : dims) {
    out += (out.empty() ? "" : " x ") + std::to_string(dim);
  }
  return out;
}

// Python's _read_idx_stream: the header, checked against capacity (the most data the file can
// hold) before the data is allocated, then exactly the data it announces.
at::Tensor read_idx_data(const Read& read, uint64_t capacity, const std::string& path) {
  std::array<unsigned char, 16> header{};
  TORCH_CHECK_VALUE(read(reinterpret_cast<char*>(header.data()), 4) == 4, path,
                    ": truncated: file ends inside the IDX header");
  const uint32_t magic = big_endian(header.data());
  const size_t ndim = magic == kImagesMagic ? 3 : magic == kLabelsMagic ? 1 : 0;
  TORCH_CHECK_VALUE(ndim > 0, path, ": wrong magic number ", hex8(magic), "; expected ",
                    hex8(kImagesMagic), " (uint8 images) or ", hex8(kLabelsMagic),
                    " (uint8 labels)");
  TORCH_CHECK_VALUE(read(reinterpret_cast<char*>(header.data()) + 4, 4 * ndim) == 4 * ndim, path,
                    ": truncated: file ends inside the IDX header");
  std::vector<int64_t> dims;
  uint64_t total = 4 + 4 * ndim, count = 1;
  bool overflow = false;
  for (size_t i = 0; i < ndim; ++i) {
    dims.push_back(big_endian(header.data() + 4 + 4 * i));
    overflow =
        overflow || __builtin_mul_overflow(count, static_cast<uint64_t>(dims.back()), &count);
  }
  overflow = overflow || __builtin_add_overflow(total, count, &total);
  TORCH_CHECK_VALUE(!overflow && total <= capacity, path, ": header claims dimensions ",
                    join_dims(dims), ", more data than the file can hold (", capacity,
                    " bytes at most)");
  // With a zero dimension there is no data, but at::empty still needs the strides (products of
  // the other dimensions) to fit an int64_t.
  uint64_t strides = 1;
  for (const int64_t dim : dims) {
    overflow =
        overflow || __builtin_mul_overflow(
                        strides, std::max<uint64_t>(static_cast<uint64_t>(dim), 1), &strides);
  }
  TORCH_CHECK_VALUE(!overflow && strides <= uint64_t{INT64_MAX}, path,
                    ": header claims dimensions ", join_dims(dims), ", too large for a tensor");
  at::Tensor tensor = at::empty(dims, at::TensorOptions().dtype(at::kByte));
  if (count > 0) {
    const size_t got = read(static_cast<char*>(tensor.data_ptr()), count);
    TORCH_CHECK_VALUE(got == count, path, ": truncated: header claims ", count,
                      " bytes of data, file holds ", got);
  }
  char extra = 0;
  TORCH_CHECK_VALUE(read(&extra, 1) == 0, path, ": unexpected bytes after the ", count,
                    " bytes of data");
  return tensor;
}

// stem in directory, plain or gzipped (plain first, as Python's idx_files).
std::string find_idx_file(const std::string& directory, const std::string& stem,
                          const std::string& split) {
  const std::string plain = detail::join_path(directory, stem), gzipped = plain + ".gz";
  const bool has_plain = detail::is_regular_file(plain);
  TORCH_CHECK(has_plain || detail::is_regular_file(gzipped), directory,
              ": no IDX files for split '", split, "': neither ", plain, " nor ", gzipped,
              " exists");
  return has_plain ? plain : gzipped;
}

}  // namespace

at::Tensor read_idx(const std::string& path) {
  const std::string bytes = detail::read_file(path);
  const bool gzipped = bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
                       static_cast<unsigned char>(bytes[1]) == 0x8b;
  if (!gzipped) {
    size_t position = 0;
    const Read read = [&](char* out, size_t size) {
      const size_t n = std::min(size, bytes.size() - position);
      if (n > 0) {
        std::memcpy(out, bytes.data() + position, n);
      }
      position += n;
      return n;
    };
    return read_idx_data(read, bytes.size(), path);
  }
  detail::GzipReader reader(bytes, path);
  const Read read = [&](char* out, size_t size) { return reader.read(out, size); };
  return read_idx_data(read, bytes.size() * kMaxDeflateRatio, path);
}

ImageSet read_idx_pair(const std::string& images_path, const std::string& labels_path,
                       int64_t num_classes) {
  TORCH_CHECK_VALUE(num_classes >= 1, "read_idx_pair: num_classes must be >= 1, got ", num_classes);
  const at::Tensor images = read_idx(images_path);
  TORCH_CHECK_VALUE(images.dim() == 3, images_path, ": is an IDX label file, expected images");
  const at::Tensor labels = read_idx(labels_path);
  TORCH_CHECK_VALUE(labels.dim() == 1, labels_path, ": is an IDX image file, expected labels");
  TORCH_CHECK_VALUE(images.size(0) == labels.size(0), labels_path, ": holds ", labels.size(0),
                    " labels but ", images_path, " holds ", images.size(0), " images");
  if (labels.numel() > 0) {
    // uint8: never below 0.
    const int64_t high = labels.max().item<int64_t>();
    TORCH_CHECK_VALUE(high < num_classes, labels_path, ": label ", high, " out of range 0..",
                      num_classes - 1, " (", num_classes, " classes)");
  }
  return {images.unsqueeze(1), labels.to(at::kLong), images_path};
}

ImageSet load_idx_split(const std::string& directory, const std::string& split) {
  TORCH_CHECK_VALUE(split == "train" || split == "test", "split must be one of train, test, got '",
                    split, "'");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string images = find_idx_file(directory, prefix + "-images-idx3-ubyte", split);
  const std::string labels = find_idx_file(directory, prefix + "-labels-idx1-ubyte", split);
  ImageSet set = read_idx_pair(images, labels, kClasses);
  set.source = directory;
  return set;
}

}  // namespace mtsnn::data

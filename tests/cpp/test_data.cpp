// mtsnn/data.h: IDX files plain and gzipped, and each way a file can be malformed.
#include <gtest/gtest.h>
#include <mtsnn/data.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "io_test_support.h"

namespace {

using mtsnn_test::expect_error;

void append_big_endian(std::string& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out += static_cast<char>(value >> shift);
  }
}

// An IDX file: magic, dims, then data.
std::string idx(uint32_t magic, const std::vector<uint32_t>& dims, const std::string& data) {
  std::string out;
  append_big_endian(out, magic);
  for (const uint32_t dim : dims) {
    append_big_endian(out, dim);
  }
  return out + data;
}

// count bytes 0, 1, 2, ... (mod 256).
std::string ramp(size_t count, int modulo = 256) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    out += static_cast<char>(i % modulo);
  }
  return out;
}

// One gzip member holding data.
std::string gzip(const std::string& data) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&stream, data.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

class IdxFiles : public mtsnn_test::TempDirTest {
 protected:
  std::string write(const std::string& name, const std::string& bytes) const {
    mtsnn_test::write_text(path(name), bytes);
    return path(name);
  }

  // read_idx of bytes written to a file, which must fail with a message naming it.
  void expect_idx_error(const std::string& bytes, std::initializer_list<std::string> parts) {
    const std::string file = write("bad", bytes);
    expect_error([&] { mtsnn::data::read_idx(file); }, parts);
    expect_error([&] { mtsnn::data::read_idx(file); }, {file + ": "});
  }
};

TEST_F(IdxFiles, ReadsImagesAndLabels) {
  const std::string pixels = ramp(2 * 3 * 4);
  const at::Tensor images = mtsnn::data::read_idx(write("i", idx(0x803, {2, 3, 4}, pixels)));
  EXPECT_EQ(images.scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(images, torch::arange(24, torch::kByte).reshape({2, 3, 4})));
  const at::Tensor labels =
      mtsnn::data::read_idx(write("l", idx(0x801, {3}, std::string{'\x01', '\x00', '\x09'})));
  EXPECT_TRUE(torch::equal(labels, torch::tensor({1, 0, 9}, torch::kByte)));
}

TEST_F(IdxFiles, ReadsGzipDetectedFromTheContent) {
  const std::string plain = idx(0x803, {5, 7, 7}, ramp(5 * 49));
  const at::Tensor expected = mtsnn::data::read_idx(write("plain", plain));
  EXPECT_TRUE(torch::equal(mtsnn::data::read_idx(write("no-suffix", gzip(plain))), expected));
  // Several members, and the zero padding some tools append, as Python's gzip reads them.
  const std::string members = gzip(plain.substr(0, 10)) + gzip(plain.substr(10)) + '\0' + '\0';
  EXPECT_TRUE(torch::equal(mtsnn::data::read_idx(write("members.gz", members)), expected));
}

TEST_F(IdxFiles, ReadsEmptySets) {
  const at::Tensor images = mtsnn::data::read_idx(write("i", idx(0x803, {0, 28, 28}, "")));
  EXPECT_EQ(images.sizes(), (std::vector<int64_t>{0, 28, 28}));
  const at::Tensor wide = mtsnn::data::read_idx(write("w", idx(0x803, {65536, 0, 65536}, "")));
  EXPECT_EQ(wide.sizes(), (std::vector<int64_t>{65536, 0, 65536}));
}

TEST_F(IdxFiles, RefusesEmptySetsNoTensorCanHold) {
  // No data, but strides beyond int64_t.
  expect_idx_error(
      idx(0x803, {0, 0xffffffff, 0xffffffff}, ""),
      {"header claims dimensions 0 x 4294967295 x 4294967295, too large for a tensor"});
}

TEST_F(IdxFiles, RefusesTruncatedHeaders) {
  expect_idx_error("", {"truncated: file ends inside the IDX header"});
  expect_idx_error(std::string("\0\0\x08", 3), {"truncated: file ends inside the IDX header"});
  expect_idx_error(idx(0x803, {60000, 28}, ""), {"truncated: file ends inside the IDX header"});
  expect_idx_error(gzip(idx(0x801, {}, "")), {"truncated: file ends inside the IDX header"});
}

TEST_F(IdxFiles, RefusesWrongMagicNumbers) {
  expect_idx_error(idx(0x804, {1}, "x"),
                   {"wrong magic number 0x00000804; expected 0x00000803 (uint8 images) or "
                    "0x00000801 (uint8 labels)"});
  expect_idx_error(idx(0x08030000, {1}, "x"), {"wrong magic number 0x08030000"});
}

TEST_F(IdxFiles, RefusesTruncatedData) {
  // A plain file cannot hold the data it lacks: refused before reading, as in Python.
  const std::string file = idx(0x803, {2, 2, 2}, ramp(7));
  expect_idx_error(file, {"header claims dimensions 2 x 2 x 2, more data than the file can hold "
                          "(23 bytes at most)"});
  expect_idx_error(gzip(file), {"truncated: header claims 8 bytes of data, file holds 7"});
}

TEST_F(IdxFiles, RefusesBytesAfterTheData) {
  const std::string file = idx(0x801, {2}, "\x01\x02\x03");
  expect_idx_error(file, {"unexpected bytes after the 2 bytes of data"});
  expect_idx_error(gzip(file), {"unexpected bytes after the 2 bytes of data"});
}

TEST_F(IdxFiles, RefusesHeadersClaimingMoreThanTheFileHolds) {
  // Refused before anything is allocated: these would be exabytes.
  const std::string huge = idx(0x803, {0xffffffff, 0xffffffff, 0xffffffff}, "x");
  expect_idx_error(huge, {"header claims dimensions 4294967295 x 4294967295 x 4294967295",
                          "more data than the file can hold (17 bytes at most)"});
  const std::string compressed = gzip(huge);
  expect_idx_error(compressed, {"more data than the file can hold (" +
                                std::to_string(compressed.size() * 1032) + " bytes at most)"});
  expect_idx_error(idx(0x801, {100}, "x"), {"header claims dimensions 100,", "(9 bytes at most)"});
}

TEST_F(IdxFiles, RefusesCorruptGzip) {
  const std::string good = gzip(idx(0x803, {4, 8, 8}, ramp(256, 3)));
  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 6] ^= 0x55;  // inside the CRC-32 of the trailer
  expect_idx_error(bad_crc, {"corrupt gzip data (incorrect data check)"});
  expect_idx_error(good.substr(0, good.size() - 4), {"corrupt gzip data", "truncated file?"});
  std::string bad_block = good;
  bad_block[10] = '\x07';  // the first deflate block: final, of the reserved type 3
  expect_idx_error(bad_block, {"corrupt gzip data (invalid block type)"});
  expect_idx_error(good + "trailing junk", {"corrupt gzip data (incorrect header check)"});
  expect_idx_error(std::string("\x1f\x8b", 2), {"corrupt gzip data"});
}

TEST_F(IdxFiles, NamesAMissingFile) {
  expect_error([&] { mtsnn::data::read_idx(path("absent")); }, {path("absent"), "No such file"});
}

TEST_F(IdxFiles, ReadsMatchingPairs) {
  const std::string images = write("i", idx(0x803, {3, 2, 2}, ramp(12)));
  const std::string labels = write("l", gzip(idx(0x801, {3}, std::string{'\x00', '\x09', '\x04'})));
  const mtsnn::data::ImageSet set = mtsnn::data::read_idx_pair(images, labels, 10);
  EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{3, 1, 2, 2}));
  EXPECT_EQ(set.images.scalar_type(), torch::kByte);
  EXPECT_TRUE(torch::equal(set.labels, torch::tensor({0, 9, 4}, torch::kLong)));
  EXPECT_EQ(set.source, images);
}

TEST_F(IdxFiles, RefusesMismatchedPairs) {
  const std::string images = write("i", idx(0x803, {3, 2, 2}, ramp(12)));
  const std::string labels = write("l", idx(0x801, {3}, std::string{'\x00', '\x09', '\x04'}));
  expect_error([&] { mtsnn::data::read_idx_pair(labels, images, 10); },
               {labels + ": is an IDX label file, expected images"});
  expect_error([&] { mtsnn::data::read_idx_pair(images, images, 10); },
               {images + ": is an IDX image file, expected labels"});
  const std::string two = write("two", idx(0x801, {2}, std::string{'\x00', '\x01'}));
  expect_error([&] { mtsnn::data::read_idx_pair(images, two, 10); },
               {two + ": holds 2 labels but " + images + " holds 3 images"});
  expect_error([&] { mtsnn::data::read_idx_pair(images, labels, 9); },
               {labels + ": label 9 out of range 0..8 (9 classes)"});
  expect_error([&] { mtsnn::data::read_idx_pair(images, labels, 0); }, {"num_classes"});
}

TEST_F(IdxFiles, LoadsSplitsByTheirOfficialNames) {
  write("train-images-idx3-ubyte.gz", gzip(idx(0x803, {2, 28, 28}, ramp(2 * 784))));
  write("train-labels-idx1-ubyte.gz", gzip(idx(0x801, {2}, "\x03\x07")));
  write("t10k-images-idx3-ubyte", idx(0x803, {1, 28, 28}, ramp(784)));
  write("t10k-labels-idx1-ubyte", idx(0x801, {1}, "\x05"));
  // Both forms present: the plain one wins, as in Python.
  write("t10k-labels-idx1-ubyte.gz", "not even gzip");
  const mtsnn::data::ImageSet train = mtsnn::data::load_idx_split(dir_, "train");
  EXPECT_EQ(train.images.sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
  EXPECT_TRUE(torch::equal(train.labels, torch::tensor({3, 7}, torch::kLong)));
  EXPECT_EQ(train.source, dir_);
  const mtsnn::data::ImageSet test = mtsnn::data::load_idx_split(dir_, "test");
  EXPECT_TRUE(torch::equal(test.labels, torch::tensor({5}, torch::kLong)));
}

TEST_F(IdxFiles, SaysWhichFilesItLookedFor) {
  write("train-images-idx3-ubyte", idx(0x803, {1, 28, 28}, ramp(784)));
  const std::string missing = path("train-labels-idx1-ubyte");
  expect_error([&] { mtsnn::data::load_idx_split(dir_, "train"); },
               {dir_ + ": no IDX files for split 'train'",
                "neither " + missing + " nor " + missing + ".gz exists"});
  expect_error([&] { mtsnn::data::load_idx_split(dir_, "test"); }, {"t10k-images-idx3-ubyte.gz"});
  expect_error([&] { mtsnn::data::load_idx_split(dir_, "validation"); },
               {"split must be one of train, test, got 'validation'"});
}

}  // namespace

// MNIST and Fashion-MNIST in their IDX files, plain or gzipped, read like Python's
// mtsnn.data.idx:
//
//   mtsnn::data::ImageSet train = mtsnn::data::load_idx_split("data/mnist", "train");
//   // train.images: uint8 [60000, 1, 28, 28], train.labels: int64 [60000]
//
// A malformed file raises c10::ValueError whose message starts with the file and says what is
// wrong; a missing one raises c10::Error.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace mtsnn::data {

// The uint8 tensor of the IDX file at path: images (magic 0x803) as [N, H, W], labels (magic
// 0x801) as [N]. Gzip is detected from the content, not the name. The header is checked against
// what the file can hold (a gzip file at most 1032 times its size, deflate's limit) before
// anything is allocated. Throws c10::ValueError naming path on a wrong magic number, a truncated
// header or data, bytes after the data, a header claiming more than the file can hold, or
// corrupt gzip data; c10::Error when it cannot be read.
at::Tensor read_idx(const std::string& path);

// One split of an image classification dataset.
struct ImageSet {
  // uint8 [N, 1, H, W].
  at::Tensor images;
  // int64 [N], each in [0, number of classes).
  at::Tensor labels;
  // Where the images were read from.
  std::string source;
};

// The images and labels of matching IDX files, with images_path as source. Throws
// c10::ValueError naming the faulty file for any read_idx error, a file of the wrong kind (labels
// given as images or the reverse), a count mismatch, or a label outside [0, num_classes).
ImageSet read_idx_pair(const std::string& images_path, const std::string& labels_path,
                       int64_t num_classes);

// The "train" or "test" split of MNIST or Fashion-MNIST in directory (its source): the official
// files train-images-idx3-ubyte and train-labels-idx1-ubyte, or t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each plain or with ".gz" (plain wins when both exist), 10 classes.
// Throws c10::Error listing the files looked for when one is missing, c10::ValueError for an
// unknown split and as read_idx_pair.
ImageSet load_idx_split(const std::string& directory, const std::string& split);

}  // namespace mtsnn::data

// safetensors files, the tensor format of Python's safetensors package: an 8-byte little-endian
// header length N, N bytes of JSON giving each tensor's dtype, shape and byte range [begin, end)
// in the data that follows, then the data. Read and written so that files cross between C++ and
// Python's safetensors.torch (save_file / load_file) both ways.
//
//   mtsnn::TensorMap tensors = mtsnn::read_safetensors("weights.safetensors");
//   mtsnn::write_safetensors("copy.safetensors", tensors);
//
// Supported dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL (float64 ... bool).
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <string_view>

namespace mtsnn {

// Tensors by name; sorted, so a file's content is deterministic.
using TensorMap = std::map<std::string, at::Tensor>;

// The tensors of the safetensors file at path (see parse_safetensors). Throws c10::Error naming
// path when it cannot be read, c10::ValueError when it is malformed.
TensorMap read_safetensors(const std::string& path);

// The tensors held in the bytes of a safetensors file, as contiguous CPU tensors that own their
// memory (copies: nothing refers to bytes afterwards). The header's "__metadata__" must map
// strings to strings and is otherwise ignored. Throws c10::ValueError, starting with source_name,
// when bytes are truncated, the header length exceeds the file or 100 MB, the header is not a
// JSON object of {"dtype", "shape", "data_offsets"} entries, a dtype is unknown or unsupported,
// a shape does not match its byte range, byte ranges run past the end, overlap or leave holes,
// bytes follow the last tensor, or a BOOL tensor holds a byte other than 0 or 1.
TensorMap parse_safetensors(std::string_view bytes, const std::string& source_name);

// The bytes of a safetensors file holding tensors (CPU, strided, of a supported dtype, any
// strides: each is written contiguous) and metadata (the header's "__metadata__", left out when
// empty). As the reference implementation writes them: the data of the tensors in name order,
// the header JSON compact and padded with spaces to a multiple of 8 bytes. Throws
// c10::ValueError naming the tensor that cannot be written, or when a name is not UTF-8.
std::string serialize_safetensors(const TensorMap& tensors,
                                  const std::map<std::string, std::string>& metadata = {});

// Writes serialize_safetensors(tensors, metadata) to path atomically and durably (a temporary
// file renamed onto path; its directory must exist). Throws c10::Error naming path on failure.
void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace mtsnn

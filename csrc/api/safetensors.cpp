// The format as the reference implementation (the Rust safetensors crate behind Python's
// package) validates it: the tensors' byte ranges must tile the data exactly, so every byte of
// the file belongs to one tensor and none to two.
#include "mtsnn/safetensors.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "api/file_io.h"

// Tensor bytes are copied as they are, so this code relies on a little-endian host.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is little endian");

namespace mtsnn {
namespace {

using Json = nlohmann::ordered_json;

// The reference implementation's limit: a larger header is no tensor file.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr size_t kLengthBytes = 8;
constexpr const char* kMetadataKey = "__metadata__";

struct DtypeName {
  at::ScalarType type;
  const char* name;
};

constexpr std::array<DtypeName, 10> kDtypes = {{{at::kDouble, "F64"},
                                                {at::kFloat, "F32"},
                                                {at::kHalf, "F16"},
                                                {at::kBFloat16, "BF16"},
                                                {at::kLong, "I64"},
                                                {at::kInt, "I32"},
                                                {at::kShort, "I16"},
                                                {at::kChar, "I8"},
                                                {at::kByte, "U8"},
                                                {at::kBool, "BOOL"}}};

constexpr const char* kSupported = "F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL";

std::optional<at::ScalarType> dtype_of(const std::string& name) {
  for (const DtypeName& entry : kDtypes) {
    if (name == entry.name) {
      return entry.type;
    }
  }
  return std::nullopt;
}

const char* name_of(at::ScalarType type) {
  for (const DtypeName& entry : kDtypes) {
    if (type == entry.type) {
      return entry.name;
    }
  }
  return nullptr;
}

// A tensor's entry in the header, checked against itself but not yet against the others.
struct Entry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// value as a non-negative integer, or nullopt (floats, negatives and booleans are not).
std::optional<uint64_t> as_count(const Json& value) {
  if (!value.is_number_integer() || (!value.is_number_unsigned() && value.get<int64_t>() < 0)) {
    return std::nullopt;
  }
  return value.get<uint64_t>();
}

Entry parse_entry(const std::string& name, const Json& info, uint64_t data_bytes,
                  const std::string& source) {
  const std::string where = source + ": tensor '" + name + "'";
  TORCH_CHECK_VALUE(info.is_object(), where, ": header entry is not a JSON object");
  const auto dtype_field = info.find("dtype");
  TORCH_CHECK_VALUE(dtype_field != info.end() && dtype_field->is_string(), where,
                    ": missing or non-string \"dtype\"");
  const std::string dtype_name = dtype_field->get<std::string>();
  const std::optional<at::ScalarType> dtype = dtype_of(dtype_name);
  TORCH_CHECK_VALUE(dtype.has_value(), where, ": unknown or unsupported dtype '", dtype_name,
                    "' (supported: ", kSupported, ")");

  const auto shape_field = info.find("shape");
  TORCH_CHECK_VALUE(shape_field != info.end() && shape_field->is_array(), where,
                    ": missing or non-array \"shape\"");
  std::vector<uint64_t> sizes;
  for (const Json& dim : *shape_field) {
    const std::optional<uint64_t> size = as_count(dim);
    TORCH_CHECK_VALUE(size.has_value(), where, ": shape ", shape_field->dump(),
                      " is not a list of non-negative integers");
    sizes.push_back(*size);
  }
  // at::empty needs the strides and the byte count in int64_t even for an empty tensor: the
  // sizes, zeros counting as 1, must multiply to at most INT64_MAX bytes. That bounds the exact
  // byte count too.
  const uint64_t element_bytes = c10::elementSize(*dtype);
  uint64_t bound = element_bytes;
  bool overflow = false;
  for (const uint64_t size : sizes) {
    overflow = overflow || __builtin_mul_overflow(bound, std::max<uint64_t>(size, 1), &bound);
  }
  TORCH_CHECK_VALUE(!overflow && bound <= uint64_t{INT64_MAX}, where, ": shape ",
                    shape_field->dump(), " is too large for a tensor");
  Entry entry{name, *dtype, {}, 0, 0};
  uint64_t bytes = element_bytes;
  for (const uint64_t size : sizes) {
    bytes *= size;
    entry.shape.push_back(static_cast<int64_t>(size));
  }

  const auto offsets_field = info.find("data_offsets");
  TORCH_CHECK_VALUE(
      offsets_field != info.end() && offsets_field->is_array() && offsets_field->size() == 2, where,
      ": missing \"data_offsets\" [begin, end]");
  const std::optional<uint64_t> begin = as_count((*offsets_field)[0]);
  const std::optional<uint64_t> end = as_count((*offsets_field)[1]);
  TORCH_CHECK_VALUE(begin && end && *begin <= *end, where, ": data_offsets ", offsets_field->dump(),
                    " are not integers 0 <= begin <= end");
  TORCH_CHECK_VALUE(*end <= data_bytes, where, ": data_offsets ", offsets_field->dump(),
                    " run past the end of the data (", data_bytes, " bytes; truncated file?)");
  TORCH_CHECK_VALUE(bytes == *end - *begin, where, ": shape ", shape_field->dump(), " of ",
                    dtype_name, " does not take the ", *end - *begin, " bytes of data_offsets ",
                    offsets_field->dump());
  entry.begin = *begin;
  entry.end = *end;
  return entry;
}

void check_metadata(const Json& metadata, const std::string& source) {
  const bool valid =
      metadata.is_object() && std::all_of(metadata.begin(), metadata.end(),
                                          [](const Json& value) { return value.is_string(); });
  TORCH_CHECK_VALUE(valid, source, ": \"", kMetadataKey, "\" must map strings to strings");
}

// Every byte of the data in exactly one tensor: sorted by position, each range starts where the
// previous one ended, and the last ends with the data.
void check_tiling(std::vector<Entry>& entries, uint64_t data_bytes, const std::string& source) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t position = 0;
  for (const Entry& entry : entries) {
    TORCH_CHECK_VALUE(entry.begin >= position, source, ": tensor '", entry.name, "' (bytes ",
                      entry.begin, "..", entry.end,
                      ") overlaps the previous tensor, which ends at ", position);
    TORCH_CHECK_VALUE(entry.begin == position, source, ": bytes ", position, "..", entry.begin,
                      " before tensor '", entry.name, "' belong to no tensor");
    position = entry.end;
  }
  TORCH_CHECK_VALUE(position == data_bytes, source, ": ", data_bytes - position,
                    " unexpected bytes after the last tensor (data ends at ", position,
                    ", the file has ", data_bytes, ")");
}

at::Tensor copy_out(const Entry& entry, const char* data, const std::string& source) {
  const char* first = data + entry.begin;
  const size_t size = entry.end - entry.begin;
  // A bool must be 0 or 1; another byte would make the tensor's values undefined.
  if (entry.dtype == at::kBool) {
    const char* bad = std::find_if(first, first + size, [](char c) { return c != 0 && c != 1; });
    TORCH_CHECK_VALUE(bad == first + size, source, ": BOOL tensor '", entry.name,
                      "' holds the byte ", static_cast<int>(static_cast<unsigned char>(*bad)),
                      " (a bool is 0 or 1)");
  }
  at::Tensor tensor = at::empty(entry.shape, at::TensorOptions().dtype(entry.dtype));
  if (size > 0) {
    std::memcpy(tensor.data_ptr(), first, size);
  }
  return tensor;
}

}  // namespace

TensorMap parse_safetensors(std::string_view bytes, const std::string& source_name) {
  TORCH_CHECK_VALUE(bytes.size() >= kLengthBytes, source_name, ": truncated: ", bytes.size(),
                    " bytes, but a safetensors file starts with an 8-byte header length");
  uint64_t header_bytes = 0;
  std::memcpy(&header_bytes, bytes.data(), kLengthBytes);
  TORCH_CHECK_VALUE(header_bytes <= kMaxHeaderBytes, source_name, ": header length ", header_bytes,
                    " exceeds the limit of ", kMaxHeaderBytes, " bytes (not a safetensors file?)");
  const uint64_t rest = bytes.size() - kLengthBytes;
  TORCH_CHECK_VALUE(header_bytes <= rest, source_name, ": truncated: header length ", header_bytes,
                    " but only ", rest, " bytes follow");
  const std::string_view header_text = bytes.substr(kLengthBytes, header_bytes);
  // nlohmann::json stops at a NUL byte as at the end of the text.
  TORCH_CHECK_VALUE(header_text.find('\0') == std::string_view::npos, source_name,
                    ": header is not valid JSON: it holds a NUL byte");
  Json header;
  try {
    header = Json::parse(header_text);
  } catch (const Json::exception& error) {
    TORCH_CHECK_VALUE(false, source_name, ": header is not valid JSON: ", error.what());
  }
  TORCH_CHECK_VALUE(header.is_object(), source_name, ": header is not a JSON object");

  const uint64_t data_bytes = rest - header_bytes;
  std::vector<Entry> entries;
  for (auto item = header.begin(); item != header.end(); ++item) {
    if (item.key() == kMetadataKey) {
      check_metadata(item.value(), source_name);
    } else {
      entries.push_back(parse_entry(item.key(), item.value(), data_bytes, source_name));
    }
  }
  check_tiling(entries, data_bytes, source_name);

  const char* data = bytes.data() + kLengthBytes + header_bytes;
  TensorMap tensors;
  for (const Entry& entry : entries) {
    tensors.emplace(entry.name, copy_out(entry, data, source_name));
  }
  return tensors;
}

TensorMap read_safetensors(const std::string& path) {
  return parse_safetensors(detail::read_file(path), path);
}

std::string serialize_safetensors(const TensorMap& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    header[kMetadataKey] = metadata;
  }
  std::vector<at::Tensor> contiguous;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    TORCH_CHECK_VALUE(name != kMetadataKey, "safetensors: a tensor cannot be named ", kMetadataKey);
    TORCH_CHECK_VALUE(tensor.defined(), "safetensors: tensor '", name, "' is undefined");
    TORCH_CHECK_VALUE(tensor.device().is_cpu() && tensor.layout() == at::kStrided,
                      "safetensors: tensor '", name, "' must be a strided CPU tensor, got ",
                      tensor.device(), " ", tensor.layout());
    const char* dtype = name_of(tensor.scalar_type());
    TORCH_CHECK_VALUE(dtype != nullptr, "safetensors: tensor '", name, "' has dtype ",
                      tensor.scalar_type(), "; supported: ", kSupported);
    contiguous.push_back(tensor.contiguous());
    const uint64_t size = contiguous.back().nbytes();
    header[name] = {{"dtype", dtype},
                    {"shape", tensor.sizes().vec()},
                    {"data_offsets", {offset, offset + size}}};
    offset += size;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& error) {
    TORCH_CHECK_VALUE(false,
                      "safetensors: tensor names and metadata must be UTF-8: ", error.what());
  }
  // As the reference writer: spaces up to a multiple of 8, so the data starts 8-byte aligned.
  text.append((kLengthBytes - text.size() % kLengthBytes) % kLengthBytes, ' ');
  const uint64_t header_bytes = text.size();
  std::string out(kLengthBytes, '\0');
  std::memcpy(out.data(), &header_bytes, kLengthBytes);
  out.reserve(kLengthBytes + header_bytes + offset);
  out += text;
  for (const at::Tensor& tensor : contiguous) {
    if (tensor.nbytes() > 0) {  // an empty tensor may have no data pointer
      out.append(static_cast<const char*>(tensor.const_data_ptr()), tensor.nbytes());
    }
  }
  return out;
}

void write_safetensors(const std::string& path, const TensorMap& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::string bytes;
  try {
    bytes = serialize_safetensors(tensors, metadata);
  } catch (const c10::ValueError& error) {
    TORCH_CHECK_VALUE(false, path, ": cannot write: ", error.what_without_backtrace());
  }
  detail::write_file_atomic(path, bytes);
}

}  // namespace mtsnn

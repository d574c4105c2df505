// mtsnn/safetensors.h: round trips, the exact bytes of the reference writer, and every kind of
// malformed file refused with a message naming it.
#include <gtest/gtest.h>
#include <mtsnn/safetensors.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "io_test_support.h"

namespace {

using mtsnn::TensorMap;
using mtsnn_test::expect_error;

std::string length_prefix(uint64_t length) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>(length >> (8 * i));
  }
  return out;
}

// A safetensors file with this header text and data, as a writer other than ours could make it.
std::string file_with(const std::string& header, const std::string& data) {
  return length_prefix(header.size()) + header + data;
}

void expect_parse_error(const std::string& bytes, std::initializer_list<std::string> parts) {
  expect_error([&] { mtsnn::parse_safetensors(bytes, "bad.safetensors"); }, parts);
  expect_error([&] { mtsnn::parse_safetensors(bytes, "bad.safetensors"); }, {"bad.safetensors: "});
}

// A tensor of each supported dtype with distinct values, made non-contiguous by a transpose.
std::vector<at::Tensor> one_tensor_per_dtype() {
  const at::Tensor base = torch::arange(-6, 6, torch::kDouble).reshape({3, 4}) * 1.5;
  std::vector<at::Tensor> tensors;
  for (const auto dtype : {torch::kDouble, torch::kFloat, torch::kHalf, torch::kBFloat16,
                           torch::kLong, torch::kInt, torch::kShort, torch::kChar}) {
    tensors.push_back(base.to(dtype).t());
  }
  tensors.push_back(torch::arange(0, 12, torch::kByte).reshape({3, 4}).t());
  tensors.push_back((torch::arange(0, 12).reshape({3, 4}) % 3 == 0).t());
  return tensors;
}

void expect_same(const TensorMap& expected, const TensorMap& actual) {
  ASSERT_EQ(expected.size(), actual.size());
  for (const auto& [name, tensor] : expected) {
    ASSERT_EQ(actual.count(name), 1u) << name;
    const at::Tensor& got = actual.at(name);
    EXPECT_EQ(got.scalar_type(), tensor.scalar_type()) << name;
    EXPECT_EQ(got.sizes(), tensor.sizes()) << name;
    EXPECT_TRUE(got.is_contiguous()) << name;
    EXPECT_TRUE(torch::equal(got, tensor)) << name;
  }
}

TEST(Safetensors, RoundTripsEveryDtypeStridesAndShape) {
  TensorMap tensors;
  for (const at::Tensor& tensor : one_tensor_per_dtype()) {
    ASSERT_FALSE(tensor.is_contiguous());
    const std::string dtype = c10::toString(tensor.scalar_type());
    tensors["t_" + dtype] = tensor;
    tensors["empty_" + dtype] = torch::zeros({0, 3}, tensor.options());
    tensors["scalar_" + dtype] = tensor[1][2].clone();
    tensors["strided_" + dtype] = tensor.slice(0, 0, 4, 2);
  }
  const std::string bytes = mtsnn::serialize_safetensors(tensors, {{"origin", "test"}});
  expect_same(tensors, mtsnn::parse_safetensors(bytes, "memory"));
}

TEST(Safetensors, ParsedTensorsOwnTheirMemory) {
  std::string bytes = mtsnn::serialize_safetensors({{"x", torch::tensor({1.0f, 2.0f})}});
  const TensorMap tensors = mtsnn::parse_safetensors(bytes, "memory");
  bytes.assign(bytes.size(), '\0');
  EXPECT_TRUE(torch::equal(tensors.at("x"), torch::tensor({1.0f, 2.0f})));
}

TEST(Safetensors, WritesTheBytesOfTheReferenceWriter) {
  // Byte for byte what Python's safetensors.torch.save({"a": tensor([1., 2.]), "b":
  // tensor([[3]], dtype=int16)}, metadata={"k": "v"}) writes (it orders the data by dtype, then
  // name: the same here): the header compact, spaces up to a multiple of 8, then the data.
  const TensorMap tensors = {{"b", torch::tensor({{3}}, torch::kShort)},
                             {"a", torch::tensor({1.0f, 2.0f})}};
  const std::string header =
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"I16","shape":[1,1],"data_offsets":[8,10]}})";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  ASSERT_EQ(padded.size() % 8, 0u);
  std::string data(10, '\0');
  const float a[2] = {1.0f, 2.0f};
  const int16_t b = 3;
  std::memcpy(data.data(), a, 8);
  std::memcpy(data.data() + 8, &b, 2);
  EXPECT_EQ(mtsnn::serialize_safetensors(tensors, {{"k", "v"}}), file_with(padded, data));
}

TEST(Safetensors, EmptyMapIsAnEmptyHeader) {
  EXPECT_EQ(mtsnn::serialize_safetensors({}), file_with("{}      ", ""));
  EXPECT_TRUE(mtsnn::parse_safetensors(file_with("{}", ""), "memory").empty());
}

TEST(Safetensors, ReadsAnotherWritersLayout) {
  // Entries out of order, data not in name order, unpadded header, extra entry keys.
  const std::string header = R"({"z":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                             R"("a":{"shape":[],"dtype":"I32","data_offsets":[2,6],"note":1}})";
  std::string data = "\x07\x09";
  const int32_t a = -5;
  data.append(reinterpret_cast<const char*>(&a), 4);
  const TensorMap tensors = mtsnn::parse_safetensors(file_with(header, data), "memory");
  EXPECT_TRUE(torch::equal(tensors.at("z"), torch::tensor({7, 9}, torch::kByte)));
  EXPECT_EQ(tensors.at("a").dim(), 0);
  EXPECT_EQ(tensors.at("a").item<int32_t>(), -5);
}

TEST(Safetensors, RefusesTruncatedFiles) {
  expect_parse_error("", {"truncated", "8-byte header length"});
  expect_parse_error(std::string("\x10\0\0\0", 4), {"truncated"});
  expect_parse_error(length_prefix(20) + "{}", {"truncated: header length 20 but only 2"});
  const std::string whole = mtsnn::serialize_safetensors({{"x", torch::ones({4})}});
  expect_parse_error(whole.substr(0, whole.size() - 1), {"tensor 'x'", "run past the end"});
}

TEST(Safetensors, RefusesHugeHeaderLengths) {
  expect_parse_error(length_prefix(100'000'001) + "{}", {"header length 100000001", "limit"});
  expect_parse_error(length_prefix(UINT64_MAX) + "{}", {"exceeds the limit"});
}

TEST(Safetensors, RefusesBadJson) {
  expect_parse_error(file_with("{\"a\": ", ""), {"not valid JSON"});
  expect_parse_error(file_with(std::string("{}\0\0", 4), ""), {"not valid JSON", "NUL byte"});
  expect_parse_error(file_with(std::string("{\"a\": \0", 7), ""), {"NUL byte"});
  expect_parse_error(file_with("[1, 2]", ""), {"not a JSON object"});
  expect_parse_error(file_with("{\"\xff\": 1}", ""), {"not valid JSON"});
}

TEST(Safetensors, RefusesBadEntries) {
  const auto entry = [](const std::string& body) { return file_with("{\"x\":" + body + "}", ""); };
  expect_parse_error(entry("3"), {"tensor 'x'", "not a JSON object"});
  expect_parse_error(entry(R"({"shape":[0],"data_offsets":[0,0]})"), {"\"dtype\""});
  expect_parse_error(entry(R"({"dtype":"F33","shape":[0],"data_offsets":[0,0]})"),
                     {"unknown or unsupported dtype 'F33'"});
  expect_parse_error(entry(R"({"dtype":"C64","shape":[0],"data_offsets":[0,0]})"),
                     {"unsupported dtype 'C64'"});
  expect_parse_error(entry(R"({"dtype":"F32","data_offsets":[0,0]})"), {"\"shape\""});
  expect_parse_error(entry(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,0]})"),
                     {"shape [-1]", "non-negative integers"});
  expect_parse_error(entry(R"({"dtype":"F32","shape":[1.0],"data_offsets":[0,4]})"),
                     {"non-negative integers"});
  expect_parse_error(entry(R"({"dtype":"F32","shape":[0]})"), {"\"data_offsets\""});
  expect_parse_error(entry(R"({"dtype":"F32","shape":[0],"data_offsets":[0]})"),
                     {"\"data_offsets\""});
  expect_parse_error(entry(R"({"dtype":"F32","shape":[0],"data_offsets":[1,0]})"),
                     {"0 <= begin <= end"});
  expect_parse_error(entry(R"({"dtype":"F32","shape":[0],"data_offsets":[-4,0]})"),
                     {"0 <= begin <= end"});
  expect_parse_error(file_with(R"({"__metadata__":{"k":1}})", ""),
                     {"\"__metadata__\" must map strings to strings"});
}

TEST(Safetensors, RefusesShapesThatDoNotFitTheirBytes) {
  expect_parse_error(
      file_with(R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", std::string(8, '\0')),
      {"tensor 'x'", "shape [3] of F32 does not take the 8 bytes"});
  // Sizes that multiply past int64_t, even with no element: no tensor has such strides.
  expect_parse_error(
      file_with(R"({"x":{"dtype":"U8","shape":[0,4611686018427387904,4611686018427387904],)"
                R"("data_offsets":[0,0]}})",
                ""),
      {"tensor 'x'", "is too large for a tensor"});
  expect_parse_error(
      file_with(R"({"x":{"dtype":"F32","shape":[2305843009213693952],"data_offsets":[0,0]}})", ""),
      {"is too large for a tensor"});
  expect_parse_error(
      file_with(R"({"x":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0]}})", ""),
      {"is too large for a tensor"});
}

TEST(Safetensors, RefusesOverlapsHolesAndTrailingBytes) {
  const std::string eight(8, '\0');
  expect_parse_error(file_with(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                               eight),
                     {"tensor 'b'", "overlaps"});
  expect_parse_error(file_with(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}})",
                               eight),
                     {"bytes 4..6", "belong to no tensor"});
  expect_parse_error(file_with(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", eight),
                     {"4 unexpected bytes after the last tensor"});
  expect_parse_error(
      file_with(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", eight.substr(0, 6)),
      {"run past the end of the data (6 bytes"});
}

TEST(Safetensors, RefusesBoolBytesOtherThanZeroAndOne) {
  expect_parse_error(file_with(R"({"a":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})",
                               std::string("\x01\x00\x02", 3)),
                     {"BOOL tensor 'a'", "byte 2"});
}

TEST(Safetensors, RefusesTensorsItCannotWrite) {
  expect_error([] { mtsnn::serialize_safetensors({{"x", at::Tensor()}}); }, {"'x'", "undefined"});
  expect_error(
      [] {
        mtsnn::serialize_safetensors({{"x", torch::zeros({2}, torch::kComplexFloat)}});
      },
      {"'x'", "dtype ComplexFloat"});
  expect_error(
      [] {
        mtsnn::serialize_safetensors({{"x", torch::zeros({2}).to_sparse()}});
      },
      {"'x'", "strided CPU tensor"});
  expect_error(
      [] {
        mtsnn::serialize_safetensors({{"__metadata__", torch::zeros({2})}});
      },
      {"__metadata__"});
  expect_error([] { mtsnn::serialize_safetensors({{"\xff", torch::zeros({2})}}); }, {"UTF-8"});
}

using SafetensorsFile = mtsnn_test::TempDirTest;

TEST_F(SafetensorsFile, WritesAndReadsFiles) {
  const TensorMap tensors = {{"w", torch::randn({3, 5})}, {"n", torch::tensor({4}, torch::kLong)}};
  mtsnn::write_safetensors(path("w.safetensors"), tensors);
  expect_same(tensors, mtsnn::read_safetensors(path("w.safetensors")));
  // Replacing a file leaves no temporary file behind.
  mtsnn::write_safetensors(path("w.safetensors"), {});
  EXPECT_TRUE(mtsnn::read_safetensors(path("w.safetensors")).empty());
  EXPECT_EQ(mtsnn_test::count_entries(dir_), 1);
}

TEST_F(SafetensorsFile, NamesTheFileItCannotReadOrWrite) {
  expect_error([&] { mtsnn::read_safetensors(path("absent.safetensors")); },
               {path("absent.safetensors"), "cannot open", "No such file"});
  expect_error([&] { mtsnn::read_safetensors(dir_); }, {dir_, "not a regular file"});
  mtsnn_test::write_text(path("junk.safetensors"), "junk");
  expect_error([&] { mtsnn::read_safetensors(path("junk.safetensors")); },
               {path("junk.safetensors"), "truncated"});
  expect_error([&] { mtsnn::write_safetensors(path("no/dir/x.safetensors"), {}); },
               {path("no/dir/x.safetensors"), "temporary file"});
  expect_error(
      [&] {
        mtsnn::write_safetensors(path("x.safetensors"), {{"x", at::Tensor()}});
      },
      {path("x.safetensors"), "undefined"});
}

}  // namespace

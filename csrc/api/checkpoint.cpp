// Loading mirrors Python's load_checkpoint check for check, so that both sides accept and refuse
// the same directories; saving writes what Python's trainer writes, minus the optimizer and RNG
// state that only resuming needs.
#include "mtsnn/checkpoint.h"

#include <c10/util/Exception.h>
#include <torch/utils.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "api/file_io.h"
#include "api/python_json.h"
#include "api/sha256.h"
#include "api/train_config_json.h"

namespace mtsnn {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kCheckpointJson = "checkpoint.json";
constexpr const char* kFormat = "mtsnn-checkpoint";
constexpr int64_t kFormatVersion = 1;
constexpr const char* kModelPrefix = "model.";

// Python's _TENSORS_FILE: checkpoint-\d{4,}\.safetensors, the whole name.
bool is_tensors_file_name(const std::string& name) {
  const std::string prefix = "checkpoint-", suffix = ".safetensors";
  if (name.size() < prefix.size() + 4 + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  const auto digits_end = name.end() - static_cast<std::ptrdiff_t>(suffix.size());
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), digits_end,
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

// The checkpoint.json of path: path itself when its name has the suffix ".json" (as Python's
// Path.suffix: not a name that only is ".json") and it is no directory.
std::string checkpoint_json(const std::string& path) {
  const std::string name = path.substr(path.rfind('/') + 1);  // npos + 1: all of it
  const std::string suffix = ".json";
  const bool json_suffix = name.size() > suffix.size() &&
                           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  return json_suffix && !detail::is_directory(path) ? path
                                                    : detail::join_path(path, kCheckpointJson);
}

// Python's _check_meta: required fields and their JSON types, the format, a sibling tensor file.
void check_meta(const std::string& json_path, const Json& meta) {
  TORCH_CHECK(meta.is_object(), json_path, ": not a checkpoint (top level is not an object)");
  const auto is_string = [](const Json& value) { return value.is_string(); };
  // An int64_t: Python's int is unbounded, but no real epoch or version is that large.
  const auto is_integer = [](const Json& value) {
    return value.is_number_integer() &&
           !(value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{INT64_MAX});
  };
  const auto is_object = [](const Json& value) { return value.is_object(); };
  const std::vector<std::pair<const char*, bool (*)(const Json&)>> expected = {
      {"format", is_string},       {"format_version", is_integer},
      {"epoch", is_integer},       {"config", is_object},
      {"tensors_file", is_string}, {"sha256", is_string},
      {"optimizer", is_object},    {"rng", is_object},
      {"metrics", is_object}};
  for (const auto& [key, has_type] : expected) {
    const auto field = meta.find(key);
    TORCH_CHECK(field != meta.end() && has_type(*field), json_path, ": missing or invalid field '",
                key, "'");
  }
  const Json& format = meta["format"];
  const Json& version = meta["format_version"];
  TORCH_CHECK(format == kFormat && version == kFormatVersion, json_path, ": format ", format.dump(),
              " version ", version.dump(), ", expected '", kFormat, "' version ", kFormatVersion);
  // Only a sibling file, never a path elsewhere on the disk.
  const std::string tensors_file = meta["tensors_file"].get<std::string>();
  TORCH_CHECK(is_tensors_file_name(tensors_file), json_path, ": invalid tensors_file ",
              meta["tensors_file"].dump());
}

// The model's parameters and buffers by state_dict name; undefined ones (bias=false) are absent,
// as in Python's state_dict.
std::map<std::string, at::Tensor> model_state(const torch::nn::Module& model) {
  std::map<std::string, at::Tensor> state;
  for (const auto& dict : {model.named_parameters(), model.named_buffers()}) {
    for (const auto& item : dict) {
      if (item.value().defined()) {
        const bool inserted = state.emplace(item.key(), item.value()).second;
        TORCH_CHECK(inserted, "model has both a parameter and a buffer named '", item.key(), "'");
      }
    }
  }
  return state;
}

// Python's repr of the first five names: ['a', 'b'].
std::string first_five(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < std::min<size_t>(names.size(), 5); ++i) {
    out += (i > 0 ? ", '" : "'") + names[i] + "'";
  }
  return out + "]";
}

std::string four_digit_epoch(int64_t epoch) {
  char name[64];
  std::snprintf(name, sizeof(name), "checkpoint-%04lld.safetensors", static_cast<long long>(epoch));
  return name;
}

Json dataset_json(const DatasetInfo& dataset) {
  return {{"name", dataset.name},
          {"source", dataset.source},
          {"is_sample", dataset.is_sample},
          {"train_images", dataset.train_images},
          {"validation_images", dataset.validation_images},
          {"test_images", dataset.test_images}};
}

// Python deletes the tensor files of earlier epochs once the new JSON names the new one.
void delete_older_tensor_files(const std::string& run_dir, const std::string& current) {
  for (const std::string& name : detail::list_directory(run_dir)) {
    if (name != current && is_tensors_file_name(name)) {
      detail::remove_file(detail::join_path(run_dir, name));
    }
  }
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) {
  const std::string json_path = checkpoint_json(path);
  // Only a missing file is "no checkpoint"; read_file reports other failures with their reason.
  TORCH_CHECK(::access(json_path.c_str(), F_OK) == 0 || errno != ENOENT, "no checkpoint at ",
              json_path);
  Checkpoint checkpoint;
  checkpoint.json_path = json_path;
  checkpoint.meta_json = detail::read_file(json_path);
  Json meta;
  try {
    meta = detail::parse_python_json(checkpoint.meta_json);
  } catch (const std::invalid_argument& bad_json) {
    TORCH_CHECK(false, json_path, ": unreadable checkpoint (truncated?): ", bad_json.what());
  }
  check_meta(json_path, meta);

  checkpoint.tensors_path = detail::join_path(detail::parent_directory(json_path),
                                              meta["tensors_file"].get<std::string>());
  TORCH_CHECK(detail::is_regular_file(checkpoint.tensors_path), checkpoint.tensors_path,
              ": missing (named by ", json_path, ")");
  // One read serves the digest and the parse, so the bytes parsed are the bytes verified.
  const std::string bytes = detail::read_file(checkpoint.tensors_path);
  const std::string digest = detail::sha256_hex(bytes);
  const std::string recorded = meta["sha256"].get<std::string>();
  TORCH_CHECK(digest == recorded, checkpoint.tensors_path, ": sha256 ", digest, " does not match ",
              recorded, " recorded in ", json_path, "; the file is truncated or was modified");
  checkpoint.tensors = parse_safetensors(bytes, checkpoint.tensors_path);
  checkpoint.config = detail::train_config_from_dict(meta["config"], json_path);
  checkpoint.epoch = meta["epoch"].get<int64_t>();
  for (auto item = meta["metrics"].begin(); item != meta["metrics"].end(); ++item) {
    if (item->is_number()) {
      checkpoint.metrics[item.key()] = item->get<double>();
    }
  }
  const auto channels_last = meta.find("channels_last");
  checkpoint.channels_last =
      channels_last != meta.end() && channels_last->is_boolean() && channels_last->get<bool>();
  return checkpoint;
}

void restore_model(const Checkpoint& checkpoint, torch::nn::Module& model) {
  const std::map<std::string, at::Tensor> expected = model_state(model);
  std::map<std::string, at::Tensor> given;
  const std::string prefix = kModelPrefix;
  for (const auto& [key, value] : checkpoint.tensors) {
    if (key.rfind(prefix, 0) == 0) {
      given.emplace(key.substr(prefix.size()), value);
    }
  }
  std::vector<std::string> missing, unexpected;
  for (const auto& item : expected) {
    if (given.count(item.first) == 0) {
      missing.push_back(item.first);
    }
  }
  for (const auto& item : given) {
    if (expected.count(item.first) == 0) {
      unexpected.push_back(item.first);
    }
  }
  TORCH_CHECK(missing.empty() && unexpected.empty(), checkpoint.tensors_path,
              ": does not fit the model: missing keys ", first_five(missing), ", unexpected keys ",
              first_five(unexpected));
  for (const auto& [key, value] : given) {
    const at::Tensor& want = expected.at(key);
    TORCH_CHECK(value.sizes() == want.sizes() && value.scalar_type() == want.scalar_type(),
                checkpoint.tensors_path, ": ", key, " is ", value.scalar_type(), " ", value.sizes(),
                ", the model needs ", want.scalar_type(), " ", want.sizes());
  }
  // The parameters are leaves that require grad: copying into them is no operation to record.
  torch::NoGradGuard no_grad;
  for (const auto& [key, value] : given) {
    expected.at(key).copy_(value);
  }
}

std::string save_checkpoint(const std::string& run_dir, const torch::nn::Module& model,
                            int64_t epoch, const TrainConfig& config,
                            const std::map<std::string, double>& metrics,
                            const DatasetInfo& dataset, const std::string& data_dir,
                            bool channels_last) {
  TORCH_CHECK_VALUE(epoch >= 0, "save_checkpoint: epoch must be >= 0, got ", epoch);
  detail::create_directories(run_dir);
  const std::string tensors_name = four_digit_epoch(epoch);
  const std::string tensors_path = detail::join_path(run_dir, tensors_name);
  TensorMap tensors;
  for (const auto& [name, value] : model_state(model)) {
    tensors.emplace(kModelPrefix + name, value.detach().cpu().contiguous());
  }
  std::string payload;
  try {
    payload = serialize_safetensors(tensors);
  } catch (const c10::ValueError& bad_tensor) {
    TORCH_CHECK_VALUE(false, tensors_path, ": cannot write: ", bad_tensor.what_without_backtrace());
  }
  detail::write_file_atomic(tensors_path, payload);

  Json metrics_json = Json::object();
  metrics_json["epoch"] = epoch;
  for (const auto& [name, value] : metrics) {
    if (name != "epoch") {
      metrics_json[name] = value;
    }
  }
  const Json document = {
      {"format", kFormat},
      {"format_version", kFormatVersion},
      {"epoch", epoch},
      {"config", detail::train_config_to_dict(config)},
      {"metrics", metrics_json},
      {"rng", Json::object()},
      {"world_size", 1},
      {"data_dir", data_dir.empty() ? Json() : Json(data_dir)},
      {"channels_last", channels_last},
      {"dataset", dataset_json(dataset)},
      {"versions", {{"torch", TORCH_VERSION}, {"trainer", "mtsnn C++"}}},
      {"optimizer", {{"param_groups", Json::array()}, {"scalars", Json::object()}}},
      {"tensors_file", tensors_name},
      {"sha256", detail::sha256_hex(payload)}};
  const std::string json_path = detail::join_path(run_dir, kCheckpointJson);
  std::string text;
  try {
    text = detail::dump_python_json(document);
  } catch (const std::invalid_argument& bad_text) {
    TORCH_CHECK_VALUE(false, json_path, ": cannot write: ", bad_text.what());
  }
  detail::write_file_atomic(json_path, text);
  delete_older_tensor_files(run_dir, tensors_name);
  return json_path;
}

}  // namespace mtsnn

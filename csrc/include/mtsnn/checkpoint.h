// Run checkpoints in the format of Python's mtsnn.training.checkpoint: a run directory holds
// checkpoint.json (configuration, epoch, metrics, the sha256 of the tensor file, ...) and the
// checkpoint-EEEE.safetensors it names. A model trained in C++ is evaluated by Python's
// `mtsnn eval --checkpoint DIR`, and a Python-trained checkpoint loads in C++:
//
//   mtsnn::Checkpoint checkpoint = mtsnn::load_checkpoint("runs/mnist");
//   auto model = build_model(checkpoint.config);  // the program's own model, Python's names
//   mtsnn::restore_model(checkpoint, *model);
//
// Errors are c10::Error, whose message starts with the file at fault and says what is wrong;
// malformed configurations are c10::ValueError.
#pragma once

#include <mtsnn/functional.h>
#include <mtsnn/safetensors.h>
#include <torch/nn/module.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace mtsnn {

// What defines a training run: Python's mtsnn.training.config.TrainConfig, stored as "config" in
// every checkpoint. Its fields and defaults are Python's; the neuron's options, flat fields of the
// stored config, are one NeuronOptions here. Reading one checks types only; valid ranges and
// choices are the program's to check.
struct TrainConfig {
  NeuronOptions neuron;
  std::string dataset = "mnist";
  std::string model = "convnet";
  int64_t timesteps = 2;
  bool ann = false;
  std::string optimizer = "adam";
  double lr = 1e-3;
  double momentum = 0.9;
  double weight_decay = 0.0;
  int64_t epochs = 20;
  // The global batch of one optimizer step.
  int64_t batch_size = 128;
  int64_t grad_accum = 1;
  bool augment = true;
  int64_t seed = 0;
  // Images used of each split; nullopt: all (JSON null).
  std::optional<int64_t> limit_train;
  std::optional<int64_t> limit_test;
  bool sync_bn = false;
  bool deterministic = false;
  // Training images held out for validation.
  int64_t validation = 0;
  // Augmentation bounds: rotation in degrees, scaling relative.
  double rotation = 0.0;
  double scaling = 0.0;
};

// config as a JSON object of every field (Python's TrainConfig.to_dict, as JSON text).
std::string train_config_to_json(const TrainConfig& config);

// The config that JSON text (an object) describes. Unknown or missing keys are an error, except
// that the fields added after the first release (validation, rotation, scaling, detach_reset)
// may be missing and take their defaults: Python's TrainConfig.from_dict rule. Throws
// c10::ValueError, starting with source_name, on bad JSON, key mismatches and values of the wrong
// JSON type.
TrainConfig train_config_from_json(std::string_view json, const std::string& source_name);

// A loaded, verified checkpoint.
struct Checkpoint {
  // The checkpoint.json file, and the safetensors file it names.
  std::string json_path;
  std::string tensors_path;
  // Number of completed epochs.
  int64_t epoch = 0;
  TrainConfig config;
  // The numeric entries of "metrics" ("epoch", "test_accuracy", ...).
  std::map<std::string, double> metrics;
  // Whether the run laid images and conv weights out channels-last (false for runs from before
  // the field): an evaluation that wants the run's exact figures uses the same layout.
  bool channels_last = false;
  // The whole checkpoint.json text, for the fields not parsed here.
  std::string meta_json;
  // Every tensor, on the CPU: "model.<name>" for the model's state, "optimizer.<...>" too when
  // Python wrote it.
  TensorMap tensors;
};

// Reads and verifies the checkpoint at path, a run directory or its checkpoint.json, with the
// checks of Python's load_checkpoint: a JSON object with the required fields of the right types,
// format "mtsnn-checkpoint" version 1, a tensors_file named checkpoint-<4+ digits>.safetensors
// (a sibling file, never a path elsewhere), present, with the recorded sha256, a valid
// safetensors file, and a valid config. Throws c10::Error naming the faulty file.
Checkpoint load_checkpoint(const std::string& path);

// Copies the checkpoint's "model."-prefixed tensors into model's parameters and buffers (all
// submodules; the names Python's state_dict uses, e.g. "encoder.0.1.num_batches_tracked"), on
// whatever device model is, after checking that the names match both ways and that each shape and
// dtype does. Throws c10::Error naming the tensor file (model unchanged) on any mismatch.
void restore_model(const Checkpoint& checkpoint, torch::nn::Module& model);

// The data a run was trained on, recorded as the checkpoint's "dataset" (the keys of Python's
// _dataset_info).
struct DatasetInfo {
  // Dataset name ("mnist") and where its images were read from (a directory, say).
  std::string name, source;
  // Whether the images are the small shipped sample rather than the full dataset.
  bool is_sample = false;
  int64_t train_images = 0, validation_images = 0, test_images = 0;
};

// Writes model's parameters and buffers as the checkpoint of epoch (>= 0) into run_dir (created
// when missing), as Python's save_checkpoint does: checkpoint-EEEE.safetensors (tensors
// "model.<name>", on the CPU, contiguous), then checkpoint.json naming it with its sha256, each
// atomically and durably; then deletes the tensor files of earlier checkpoints there. The JSON
// records config, metrics (plus "epoch"), dataset, data_dir (null when empty), world_size 1,
// channels_last, the torch version, and empty rng and optimizer state: Python can evaluate the
// checkpoint (`mtsnn eval` needs metrics["test_accuracy"]) but not resume it. Returns the
// checkpoint.json path. Throws c10::Error naming the file that cannot be written.
std::string save_checkpoint(const std::string& run_dir, const torch::nn::Module& model,
                            int64_t epoch, const TrainConfig& config,
                            const std::map<std::string, double>& metrics,
                            const DatasetInfo& dataset, const std::string& data_dir,
                            bool channels_last = false);

}  // namespace mtsnn

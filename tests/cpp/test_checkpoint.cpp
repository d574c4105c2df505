// mtsnn/checkpoint.h (with its SHA-256 and JSON helpers): the layout Python's
// mtsnn.training.checkpoint writes and reads, and every refusal of its load_checkpoint.
#include <gtest/gtest.h>
#include <mtsnn/checkpoint.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "api/python_json.h"
#include "api/sha256.h"
#include "io_test_support.h"

namespace {

using Json = nlohmann::ordered_json;
using mtsnn_test::expect_error;
using mtsnn_test::read_text;
using mtsnn_test::write_text;

TEST(Sha256, MatchesTheStandardTestVectors) {
  using mtsnn::detail::sha256_hex;
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(
      sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklm"
                 "nopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  EXPECT_EQ(sha256_hex(std::string(1'000'000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(PythonJson, ReadsAndWritesNonFiniteFloatsAsPythonDoes) {
  // "\u0001NaN" is a string of the text: the markers must use another character.
  const Json value = mtsnn::detail::parse_python_json(
      R"({"a": NaN, "b": "NaN, Infinity", "c": [-Infinity, Infinity], "d": "\u0001NaN"})");
  EXPECT_TRUE(std::isnan(value["a"].get<double>()));
  EXPECT_EQ(value["b"], "NaN, Infinity");
  EXPECT_EQ(value["c"][0].get<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(value["c"][1].get<double>(), std::numeric_limits<double>::infinity());
  EXPECT_EQ(value["d"], "\x01NaN");
  // json.dumps(value, indent=1) of the same value.
  EXPECT_EQ(mtsnn::detail::dump_python_json(value),
            "{\n \"a\": NaN,\n \"b\": \"NaN, Infinity\",\n \"c\": [\n  -Infinity,\n  Infinity\n"
            " ],\n \"d\": \"\\u0001NaN\"\n}");
  EXPECT_EQ(mtsnn::detail::dump_python_json(Json::parse(R"({"e": [], "f": {}, "g": "\u00e9"})")),
            "{\n \"e\": [],\n \"f\": {},\n \"g\": \"\\u00e9\"\n}");
  EXPECT_THROW(mtsnn::detail::parse_python_json("{\"a\": nan}"), std::invalid_argument);
  EXPECT_THROW(mtsnn::detail::parse_python_json("{\"a\": NaNa}"), std::invalid_argument);
}

TEST(TrainConfig, HasPythonsDefaultsAndWritesEveryField) {
  const Json values = Json::parse(mtsnn::train_config_to_json({}));
  const Json expected = {{"num_thresholds", 3},
                         {"threshold", 1.0},
                         {"decay", 0.5},
                         {"reset", "soft"},
                         {"surrogate", "rectangle"},
                         {"width", 1.0},
                         {"detach_reset", false},
                         {"dataset", "mnist"},
                         {"model", "convnet"},
                         {"timesteps", 2},
                         {"ann", false},
                         {"optimizer", "adam"},
                         {"lr", 0.001},
                         {"momentum", 0.9},
                         {"weight_decay", 0.0},
                         {"epochs", 20},
                         {"batch_size", 128},
                         {"grad_accum", 1},
                         {"augment", true},
                         {"seed", 0},
                         {"limit_train", nullptr},
                         {"limit_test", nullptr},
                         {"sync_bn", false},
                         {"deterministic", false},
                         {"validation", 0},
                         {"rotation", 0.0},
                         {"scaling", 0.0}};
  EXPECT_EQ(values, expected);
}

TEST(TrainConfig, RoundTripsThroughJson) {
  mtsnn::TrainConfig config;
  config.dataset = "fashion-mnist";
  config.timesteps = 4;
  config.neuron.threshold(0.75).surrogate("sigmoid").detach_reset(true);
  config.lr = 3e-4;
  config.augment = true;
  config.limit_train = 5000;
  config.validation = 500;
  config.rotation = 10.0;
  const mtsnn::TrainConfig back =
      mtsnn::train_config_from_json(mtsnn::train_config_to_json(config), "config.json");
  EXPECT_EQ(mtsnn::train_config_to_json(back), mtsnn::train_config_to_json(config));
  EXPECT_EQ(back.limit_train, 5000);
  EXPECT_EQ(back.limit_test, std::nullopt);
  EXPECT_EQ(back.rotation, 10.0);
  EXPECT_EQ(back.neuron.surrogate(), "sigmoid");
  EXPECT_TRUE(back.neuron.detach_reset());
}

// The default config's JSON with edit applied.
std::string edited_config(const std::function<void(Json&)>& edit) {
  Json values = Json::parse(mtsnn::train_config_to_json({}));
  edit(values);
  return values.dump();
}

TEST(TrainConfig, LaterFieldsMayBeMissing) {
  const mtsnn::TrainConfig config = mtsnn::train_config_from_json(edited_config([](Json& values) {
                                                                    values.erase("validation");
                                                                    values.erase("rotation");
                                                                    values.erase("scaling");
                                                                    values.erase("detach_reset");
                                                                    values["epochs"] = 3;
                                                                  }),
                                                                  "old.json");
  EXPECT_EQ(config.epochs, 3);
  EXPECT_EQ(config.validation, 0);
  EXPECT_EQ(config.rotation, 0.0);
  EXPECT_EQ(config.scaling, 0.0);
  EXPECT_FALSE(config.neuron.detach_reset());
}

TEST(TrainConfig, RefusesMissingAndUnknownKeys) {
  const auto from = [](const std::string& text) {
    return [text] { mtsnn::train_config_from_json(text, "c.json"); };
  };
  expect_error(from(edited_config([](Json& values) {
                 values.erase("lr");
                 values.erase("dataset");
               })),
               {"c.json: invalid config: config keys do not match: unknown [], missing "
                "['dataset', 'lr']"});
  expect_error(from(edited_config([](Json& values) { values["colour"] = "red"; })),
               {"unknown ['colour'], missing []"});
  expect_error(from("[]"), {"c.json: invalid config: not a JSON object"});
  expect_error(from("{"), {"c.json: invalid config: not valid JSON"});
}

TEST(TrainConfig, ChecksJsonTypesOnly) {
  const auto with = [](const char* key, const Json& value) {
    return mtsnn::train_config_from_json(edited_config([&](Json& values) { values[key] = value; }),
                                         "c.json");
  };
  EXPECT_EQ(with("threshold", 2).neuron.threshold(), 2.0);  // Python's int is a valid float
  EXPECT_EQ(with("timesteps", -7).timesteps, -7);           // ranges are the program's to check
  EXPECT_EQ(with("model", "no-such-model").model, "no-such-model");
  expect_error([&] { with("timesteps", 2.0); },
               {"c.json: invalid config: timesteps must be an integer, got 2.0"});
  expect_error([&] { with("timesteps", 18446744073709551615ull); },
               {"timesteps must be an integer"});
  expect_error([&] { with("seed", true); }, {"seed must be an integer"});
  expect_error([&] { with("ann", 0); }, {"ann must be true or false"});
  expect_error([&] { with("lr", "0.1"); }, {"lr must be a number"});
  expect_error([&] { with("dataset", 1); }, {"dataset must be a string"});
  expect_error([&] { with("limit_test", 1.5); }, {"limit_test must be an integer or null"});
  EXPECT_EQ(with("limit_test", 10).limit_test, 10);
}

// A small model with the structure of mtsnn's classifiers: nested modules, BatchNorm buffers and
// a bias-free layer.
struct Net : torch::nn::Module {
  explicit Net(int64_t classes = 3, int64_t channels = 2) {
    encoder = register_module(
        "encoder",
        torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, channels, 3)),
                              torch::nn::BatchNorm2d(channels)));
    head = register_module("head",
                           torch::nn::Linear(torch::nn::LinearOptions(8, classes).bias(false)));
  }
  torch::nn::Sequential encoder{nullptr};
  torch::nn::Linear head{nullptr};
};

// A model whose every parameter and buffer differs from a fresh one's.
std::shared_ptr<Net> trained_net() {
  auto net = std::make_shared<Net>();
  torch::NoGradGuard no_grad;
  for (auto& parameter : net->parameters()) {
    parameter.uniform_(-1, 1);
  }
  for (auto& buffer : net->buffers()) {
    buffer.fill_(7);
  }
  return net;
}

void expect_same_state(torch::nn::Module& expected, torch::nn::Module& actual) {
  const auto a = expected.named_parameters(), b = actual.named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) {
    EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  }
  for (const auto& item : expected.named_buffers()) {
    EXPECT_TRUE(torch::equal(item.value(), actual.named_buffers()[item.key()])) << item.key();
  }
}

class CheckpointDir : public mtsnn_test::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    run_ = path("run");
    config_.dataset = "mnist";
    config_.epochs = 3;
    config_.limit_test = 100;
    metrics_ = {{"test_accuracy", 0.5}, {"test_loss", 1.25}, {"lr", 1e-3}};
    dataset_ = {"mnist", "/data/mnist", false, 60000, 0, 100};
  }

  std::string save(int64_t epoch = 1, const std::string& data_dir = "/data") {
    return mtsnn::save_checkpoint(run_, *net_, epoch, config_, metrics_, dataset_, data_dir);
  }

  // Saves a checkpoint, then rewrites its JSON through edit.
  void save_and_edit(const std::function<void(Json&)>& edit) {
    const std::string json_path = save();
    Json meta = Json::parse(read_text(json_path));
    edit(meta);
    write_text(json_path, meta.dump(1));
  }

  // name inside the run directory.
  std::string file(const std::string& name) const { return run_ + "/" + name; }

  std::string run_;
  std::shared_ptr<Net> net_ = trained_net();
  mtsnn::TrainConfig config_;
  std::map<std::string, double> metrics_;
  mtsnn::DatasetInfo dataset_;
};

TEST_F(CheckpointDir, WritesPythonsLayout) {
  const std::string json_path = save(2);
  EXPECT_EQ(json_path, file("checkpoint.json"));
  const Json meta = Json::parse(read_text(json_path));
  std::vector<std::string> keys;
  for (auto item = meta.begin(); item != meta.end(); ++item) {
    keys.push_back(item.key());
  }
  EXPECT_EQ(keys,
            (std::vector<std::string>{"format", "format_version", "epoch", "config", "metrics",
                                      "rng", "world_size", "data_dir", "channels_last", "dataset",
                                      "versions", "optimizer", "tensors_file", "sha256"}));
  EXPECT_EQ(meta["format"], "mtsnn-checkpoint");
  EXPECT_EQ(meta["format_version"], 1);
  EXPECT_EQ(meta["epoch"], 2);
  EXPECT_EQ(meta["metrics"], Json::parse(R"({"epoch": 2, "lr": 0.001, "test_accuracy": 0.5,
                                             "test_loss": 1.25})"));
  EXPECT_EQ(meta["config"], Json::parse(mtsnn::train_config_to_json(config_)));
  EXPECT_EQ(meta["rng"], Json::object());
  EXPECT_EQ(meta["world_size"], 1);
  EXPECT_EQ(meta["data_dir"], "/data");
  EXPECT_EQ(meta["channels_last"], false);
  EXPECT_EQ(meta["dataset"], Json::parse(R"({"name": "mnist", "source": "/data/mnist",
      "is_sample": false, "train_images": 60000, "validation_images": 0, "test_images": 100})"));
  EXPECT_EQ(meta["versions"]["trainer"], "mtsnn C++");
  EXPECT_EQ(meta["versions"]["torch"], TORCH_VERSION);
  EXPECT_EQ(meta["optimizer"], Json::parse(R"({"param_groups": [], "scalars": {}})"));
  EXPECT_EQ(meta["tensors_file"], "checkpoint-0002.safetensors");
  const std::string tensor_bytes = read_text(file("checkpoint-0002.safetensors"));
  EXPECT_EQ(meta["sha256"], mtsnn::detail::sha256_hex(tensor_bytes));
  // Python's state_dict names.
  std::set<std::string> names;
  for (const auto& item : mtsnn::parse_safetensors(tensor_bytes, "t")) {
    names.insert(item.first);
  }
  EXPECT_EQ(names,
            (std::set<std::string>{"model.encoder.0.weight", "model.encoder.0.bias",
                                   "model.encoder.1.weight", "model.encoder.1.bias",
                                   "model.encoder.1.running_mean", "model.encoder.1.running_var",
                                   "model.encoder.1.num_batches_tracked", "model.head.weight"}));
  // Nothing but the pair: the temporary files were renamed.
  EXPECT_EQ(mtsnn_test::count_entries(run_), 2);
}

TEST_F(CheckpointDir, WritesNullDataDirAndNonFiniteMetrics) {
  metrics_["train_loss"] = std::numeric_limits<double>::quiet_NaN();
  metrics_["epoch"] = 99;  // the epoch argument wins
  const std::string text = read_text(save(1, ""));
  EXPECT_NE(text.find("\"data_dir\": null"), std::string::npos);
  EXPECT_NE(text.find("\"train_loss\": NaN"), std::string::npos);
  const mtsnn::Checkpoint checkpoint = mtsnn::load_checkpoint(run_);
  EXPECT_TRUE(std::isnan(checkpoint.metrics.at("train_loss")));
  EXPECT_EQ(checkpoint.metrics.at("epoch"), 1.0);
}

TEST_F(CheckpointDir, LoadsWhatItSaved) {
  save(3);
  for (const std::string& path : {run_, file("checkpoint.json")}) {
    const mtsnn::Checkpoint checkpoint = mtsnn::load_checkpoint(path);
    EXPECT_EQ(checkpoint.json_path, file("checkpoint.json"));
    EXPECT_EQ(checkpoint.tensors_path, file("checkpoint-0003.safetensors"));
    EXPECT_EQ(checkpoint.epoch, 3);
    EXPECT_EQ(mtsnn::train_config_to_json(checkpoint.config), mtsnn::train_config_to_json(config_));
    EXPECT_EQ(checkpoint.metrics,
              (std::map<std::string, double>{
                  {"epoch", 3}, {"lr", 1e-3}, {"test_accuracy", 0.5}, {"test_loss", 1.25}}));
    EXPECT_EQ(checkpoint.meta_json, read_text(file("checkpoint.json")));
    EXPECT_EQ(checkpoint.tensors.size(), 8u);
    Net fresh;
    mtsnn::restore_model(checkpoint, fresh);
    expect_same_state(*net_, fresh);
  }
}

TEST_F(CheckpointDir, RecordsTheLayout) {
  EXPECT_FALSE(mtsnn::load_checkpoint(save()).channels_last);
  mtsnn::save_checkpoint(run_, *net_, 2, config_, metrics_, dataset_, "/data", true);
  EXPECT_TRUE(mtsnn::load_checkpoint(run_).channels_last);
  save_and_edit([](Json& meta) { meta.erase("channels_last"); });  // runs from before the field
  EXPECT_FALSE(mtsnn::load_checkpoint(run_).channels_last);
}

TEST_F(CheckpointDir, DeletesTheTensorFilesOfEarlierEpochsOnly) {
  save(1);
  write_text(file("checkpoint-12.safetensors"), "not a checkpoint name");
  write_text(file("notes.txt"), "kept");
  save(2);
  EXPECT_FALSE(mtsnn_test::exists(file("checkpoint-0001.safetensors")));
  EXPECT_TRUE(mtsnn_test::exists(file("checkpoint-0002.safetensors")));
  EXPECT_TRUE(mtsnn_test::exists(file("checkpoint-12.safetensors")));
  EXPECT_TRUE(mtsnn_test::exists(file("notes.txt")));
  save(10000);
  EXPECT_TRUE(mtsnn_test::exists(file("checkpoint-10000.safetensors")));
  EXPECT_FALSE(mtsnn_test::exists(file("checkpoint-0002.safetensors")));
  EXPECT_EQ(mtsnn::load_checkpoint(run_).epoch, 10000);
}

TEST_F(CheckpointDir, RefusesBadSaves) {
  expect_error([&] { save(-1); }, {"epoch must be >= 0"});
  write_text(path("file"), "x");
  for (const std::string& run : {path("file"), path("file/run")}) {
    run_ = run;
    expect_error([&] { save(); }, {run + ": cannot create the directory " + path("file") +
                                   ": a file is in the way"});
  }
  run_ = path("locked/run");
  ASSERT_EQ(::mkdir(path("locked").c_str(), 0500), 0);
  if (::geteuid() != 0) {  // root may write anywhere
    expect_error([&] { save(); }, {"cannot create the directory " + run_, "Permission denied"});
  }
}

TEST_F(CheckpointDir, RefusesMissingOrUnreadableJson) {
  expect_error([&] { mtsnn::load_checkpoint(run_); },
               {"no checkpoint at " + file("checkpoint.json")});
  const std::string json_path = save();
  const std::string text = read_text(json_path);
  write_text(json_path, text.substr(0, text.size() / 2));
  expect_error([&] { mtsnn::load_checkpoint(run_); },
               {json_path, "unreadable checkpoint (truncated?)"});
  write_text(json_path, "[1]");
  expect_error([&] { mtsnn::load_checkpoint(run_); },
               {json_path, "not a checkpoint (top level is not an object)"});
}

TEST_F(CheckpointDir, RefusesMissingOrMistypedFields) {
  for (const char* key : {"format", "format_version", "epoch", "config", "tensors_file", "sha256",
                          "optimizer", "rng", "metrics"}) {
    save_and_edit([&](Json& meta) { meta.erase(key); });
    expect_error([&] { mtsnn::load_checkpoint(run_); },
                 {file("checkpoint.json"), std::string("missing or invalid field '") + key});
  }
  save_and_edit([](Json& meta) { meta["epoch"] = "1"; });
  expect_error([&] { mtsnn::load_checkpoint(run_); }, {"missing or invalid field 'epoch'"});
  save_and_edit([](Json& meta) { meta["epoch"] = 1.0; });
  expect_error([&] { mtsnn::load_checkpoint(run_); }, {"missing or invalid field 'epoch'"});
  save_and_edit([](Json& meta) { meta["rng"] = Json::array(); });
  expect_error([&] { mtsnn::load_checkpoint(run_); }, {"missing or invalid field 'rng'"});
}

TEST_F(CheckpointDir, RefusesOtherFormats) {
  save_and_edit([](Json& meta) { meta["format"] = "other"; });
  expect_error([&] { mtsnn::load_checkpoint(run_); },
               {"format \"other\" version 1, expected 'mtsnn-checkpoint' version 1"});
  save_and_edit([](Json& meta) { meta["format_version"] = 2; });
  expect_error([&] { mtsnn::load_checkpoint(run_); }, {"version 2, expected"});
}

TEST_F(CheckpointDir, RefusesTensorFilesOutsideTheDirectory) {
  save();
  write_text(path("checkpoint-0001.safetensors"), read_text(file("checkpoint-0001.safetensors")));
  for (const char* name : {"../checkpoint-0001.safetensors", "/tmp/checkpoint-0001.safetensors",
                           "checkpoint-001.safetensors", "checkpoint-0001.safetensors.bak",
                           "checkpoint-00x1.safetensors", "Checkpoint-0001.safetensors"}) {
    save_and_edit([&](Json& meta) { meta["tensors_file"] = name; });
    expect_error([&] { mtsnn::load_checkpoint(run_); },
                 {file("checkpoint.json"), "invalid tensors_file"});
  }
}

TEST_F(CheckpointDir, RefusesMissingOrModifiedTensorFiles) {
  save();
  ASSERT_EQ(std::remove(file("checkpoint-0001.safetensors").c_str()), 0);
  expect_error([&] { mtsnn::load_checkpoint(run_); },
               {file("checkpoint-0001.safetensors"), "missing (named by", file("checkpoint.json")});
  save();
  std::string bytes = read_text(file("checkpoint-0001.safetensors"));
  bytes.back() ^= 1;
  write_text(file("checkpoint-0001.safetensors"), bytes);
  expect_error(
      [&] { mtsnn::load_checkpoint(run_); },
      {file("checkpoint-0001.safetensors"), "does not match", "truncated or was modified"});
  // A corrupt tensor file with the right digest: refused by the safetensors parser.
  save_and_edit([](Json& meta) { meta["sha256"] = mtsnn::detail::sha256_hex("junk"); });
  write_text(file("checkpoint-0001.safetensors"), "junk");
  expect_error([&] { mtsnn::load_checkpoint(run_); },
               {file("checkpoint-0001.safetensors"), "truncated"});
}

TEST_F(CheckpointDir, RefusesInvalidConfigs) {
  save_and_edit([](Json& meta) { meta["config"].erase("seed"); });
  expect_error(
      [&] { mtsnn::load_checkpoint(run_); },
      {file("checkpoint.json") + ": invalid config: config keys do not match", "missing ['seed']"});
  save_and_edit([](Json& meta) { meta["config"]["extra"] = 1; });
  expect_error([&] { mtsnn::load_checkpoint(run_); }, {"unknown ['extra']"});
  save_and_edit([](Json& meta) {
    meta["config"].erase("validation");
    meta["config"].erase("rotation");
    meta["config"].erase("scaling");
  });
  EXPECT_EQ(mtsnn::load_checkpoint(run_).config.validation, 0);
}

TEST_F(CheckpointDir, RestoreRefusesModelsThatDoNotFit) {
  save();
  const mtsnn::Checkpoint checkpoint = mtsnn::load_checkpoint(run_);
  const std::string tensors_path = file("checkpoint-0001.safetensors");

  struct Bigger : Net {
    Bigger() { extra = register_module("extra", torch::nn::Linear(3, 3)); }
    torch::nn::Linear extra{nullptr};
  } bigger;
  expect_error([&] { mtsnn::restore_model(checkpoint, bigger); },
               {tensors_path, "does not fit the model: missing keys ['extra.bias', 'extra.weight']",
                "unexpected keys []"});

  struct Smaller : torch::nn::Module {
    Smaller() {
      head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(8, 3).bias(false)));
    }
    torch::nn::Linear head{nullptr};
  } smaller;
  expect_error([&] { mtsnn::restore_model(checkpoint, smaller); },
               {"missing keys [], unexpected keys ['encoder.0.bias', 'encoder.0.weight', "
                "'encoder.1.bias', 'encoder.1.num_batches_tracked', 'encoder.1.running_mean']"});

  Net wider(4);
  expect_error([&] { mtsnn::restore_model(checkpoint, wider); },
               {tensors_path, "head.weight is Float [3, 8], the model needs Float [4, 8]"});

  Net doubled;
  doubled.to(torch::kDouble);
  const at::Tensor before = doubled.head->weight.clone();
  expect_error([&] { mtsnn::restore_model(checkpoint, doubled); },
               {"is Float", "the model needs Double"});
  EXPECT_TRUE(torch::equal(before, doubled.head->weight));  // refused before any copy
}

TEST_F(CheckpointDir, RestoreKeepsTheModelsParametersTrainable) {
  save();
  Net fresh;
  mtsnn::restore_model(mtsnn::load_checkpoint(run_), fresh);
  EXPECT_TRUE(fresh.head->weight.requires_grad());
  EXPECT_TRUE(fresh.head->weight.is_leaf());
}

}  // namespace

// mtsnn-train-mnist: trains the MNIST (or Fashion-MNIST) ConvNet SNN in pure C++ with the mtsnn
// C++ API, on the official IDX files (gzipped or not), with the recipe of `mtsnn train`: Adam,
// a per-epoch cosine learning rate, random shifts of +-2 pixels (and flips for Fashion-MNIST),
// and, as on the CPU there, channels-last conv weights and freed memory kept in the process;
// --bf16 runs the forward passes of training under bfloat16 autocast, as `mtsnn train --bf16`.
// Each epoch prints one line and writes an mtsnn checkpoint that Python reads
// (`mtsnn eval --checkpoint OUT`); --evaluate reads any mtsnn checkpoint, Python's included.
//
//   mtsnn-train-mnist --data-dir DIR [--out DIR] [--epochs 8] [--timesteps 2] [--model convnet]
//                     [--ann] [--batch-size 128] [--lr 0.001] [--seed 0] [--threads N]
//                     [--limit-train N] [--limit-test N] [--no-augment] [--dataset fashion-mnist]
//                     [--no-channels-last] [--no-keep-memory] [--bf16]
//   mtsnn-train-mnist --evaluate RUN_DIR --data-dir DIR
#include <ATen/autocast_mode.h>
#include <mtsnn/mtsnn.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>

#include "arguments.h"

namespace {

struct Options {
  std::string data_dir;
  std::string out = "runs/cpp-mnist";
  std::string evaluate;  // a run directory to evaluate instead of training
  std::string dataset = "mnist";
  std::string model = "convnet";
  int64_t epochs = 8;
  int64_t timesteps = 2;
  int64_t batch_size = 128;
  double lr = 1e-3;
  int64_t seed = 0;
  int64_t threads = 0;  // 0: torch's default
  bool ann = false;
  bool augment = true;
  bool channels_last = true;
  bool keep_memory = true;
  bool bf16 = false;
  std::optional<int64_t> limit_train, limit_test;
};

// Per dataset: (mean, std) of the training pixels in [0, 1] units, and whether a horizontal flip
// is a valid augmentation. The same values as mtsnn.data.NORMALIZATION and AUGMENTATION.
struct DatasetFacts {
  double mean, std;
  bool flip;
};
const std::map<std::string, DatasetFacts> kDatasets{
    {"mnist", {0.1307, 0.3081, false}},
    {"fashion-mnist", {0.2860, 0.3530, true}},
};
constexpr int64_t kCropPadding = 2;
constexpr int64_t kEvalBatch = 500;  // mtsnn.training.config.EVAL_BATCH_SIZE

Options parse(int argc, char** argv) {
  Options options;
  examples::Arguments args(argc, argv, "train_mnist.cpp");
  while (args.next()) {
    const std::string flag = args.flag();
    if (flag == "--data-dir") {
      options.data_dir = args.value();
    } else if (flag == "--out") {
      options.out = args.value();
    } else if (flag == "--evaluate") {
      options.evaluate = args.value();
    } else if (flag == "--dataset") {
      options.dataset = args.value();
    } else if (flag == "--model") {
      options.model = args.value();
    } else if (flag == "--epochs") {
      options.epochs = args.integer(1);
    } else if (flag == "--timesteps") {
      options.timesteps = args.integer(1);
    } else if (flag == "--batch-size") {
      options.batch_size = args.integer(1);
    } else if (flag == "--seed") {
      options.seed = args.integer(0);
    } else if (flag == "--threads") {
      options.threads = args.integer(1);
    } else if (flag == "--limit-train") {
      options.limit_train = args.integer(1);
    } else if (flag == "--limit-test") {
      options.limit_test = args.integer(1);
    } else if (flag == "--ann") {
      options.ann = true;
    } else if (flag == "--no-augment") {
      options.augment = false;
    } else if (flag == "--no-channels-last") {
      options.channels_last = false;
    } else if (flag == "--no-keep-memory") {
      options.keep_memory = false;
    } else if (flag == "--bf16") {
      options.bf16 = true;
    } else if (flag == "--lr") {
      const std::string text = args.value();
      try {
        options.lr = std::stod(text);
      } catch (const std::exception&) {
        options.lr = -1;
      }
      if (!(options.lr > 0 && std::isfinite(options.lr))) args.error("--lr needs a number > 0");
    } else {
      args.error("unknown option " + flag);
    }
  }
  if (options.data_dir.empty()) args.error("--data-dir is required");
  if (!kDatasets.count(options.dataset)) args.error("--dataset is mnist or fashion-mnist");
  return options;
}

// `limit` images of `set` (all when unset), drawn as mtsnn.training.data.subset draws them, so that
// a --limit-test run is evaluated on the same images in both languages.
mtsnn::data::ImageSet subset(mtsnn::data::ImageSet set, std::optional<int64_t> limit) {
  const int64_t size = set.images.size(0);
  if (!limit || *limit >= size) return set;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(0);
  const torch::Tensor chosen = torch::randperm(size, generator, torch::kLong).narrow(0, 0, *limit);
  const torch::Tensor mask = torch::zeros({size}, torch::kBool).index_fill_(0, chosen, true);
  set.images = set.images.index({mask});
  set.labels = set.labels.index({mask});
  return set;
}

// uint8 pixels -> standardised float32, as `pixel * 1 / (255 std) - mean / std`. (One-channel
// images are channels-last as they are: the conv weights' layout decides the network's.)
torch::Tensor normalize(const torch::Tensor& pixels, const DatasetFacts& facts) {
  return pixels.to(torch::kFloat) * (1.0 / (255.0 * facts.std)) + (-facts.mean / facts.std);
}

// Each image cut out of its zero-padded version at a random offset, mirrored where `flip` draws.
torch::Tensor random_crop_flip(const torch::Tensor& images, bool flip, at::Generator& generator) {
  const int64_t batch = images.size(0), height = images.size(2), width = images.size(3);
  const int64_t p = kCropPadding;
  const torch::Tensor padded = torch::constant_pad_nd(images, {p, p, p, p});
  const torch::Tensor offsets = torch::randint(0, 2 * p + 1, {batch, 2}, generator);
  const torch::Tensor flips = torch::randint(0, 2, {batch}, generator);
  torch::Tensor out = torch::empty_like(images);
  const auto offset = offsets.accessor<int64_t, 2>();
  const auto mirrored = flips.accessor<int64_t, 1>();
  for (int64_t i = 0; i < batch; ++i) {
    torch::Tensor crop = padded[i].narrow(1, offset[i][0], height).narrow(2, offset[i][1], width);
    out[i].copy_(flip && mirrored[i] ? crop.flip({2}) : crop);
  }
  return out;
}

// torch.autocast("cpu", dtype=torch.bfloat16) for C++, which has no such guard: while one is
// alive (and enabled), convolutions and linear layers run in bfloat16, and the layers after them,
// MT-LIF included, take bfloat16 in turn. The weights stay float32.
class CpuBFloat16Autocast {
 public:
  explicit CpuBFloat16Autocast(bool enabled)
      : enabled_(enabled),
        previous_enabled_(at::autocast::is_autocast_enabled(at::kCPU)),
        previous_dtype_(at::autocast::get_autocast_dtype(at::kCPU)) {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(at::kCPU, true);
    at::autocast::set_autocast_dtype(at::kCPU, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~CpuBFloat16Autocast() {
    if (!enabled_) return;
    // As torch.autocast's exit: the casts of the weights cached within are dropped.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(at::kCPU, previous_enabled_);
    at::autocast::set_autocast_dtype(at::kCPU, previous_dtype_);
  }
  CpuBFloat16Autocast(const CpuBFloat16Autocast&) = delete;
  CpuBFloat16Autocast& operator=(const CpuBFloat16Autocast&) = delete;

 private:
  bool enabled_;
  bool previous_enabled_;
  at::ScalarType previous_dtype_;
};

struct Figures {
  double loss = 0, accuracy = 0, seconds = 0;
};

Figures evaluate(mtsnn::models::ConvNet& model, const mtsnn::data::ImageSet& set,
                 const DatasetFacts& facts) {
  const torch::NoGradGuard no_grad;
  model->eval();
  const int64_t size = set.images.size(0);
  double loss = 0, correct = 0;
  for (int64_t start = 0; start < size; start += kEvalBatch) {
    const int64_t count = std::min(kEvalBatch, size - start);
    const torch::Tensor logits =
        model->forward(normalize(set.images.narrow(0, start, count), facts));
    const torch::Tensor labels = set.labels.narrow(0, start, count);
    loss +=
        torch::nn::functional::cross_entropy(
            logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
            .item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<double>();
  }
  return {loss / size, correct / size, 0};
}

Figures train_epoch(mtsnn::models::ConvNet& model, torch::optim::Adam& optimizer,
                    const mtsnn::data::ImageSet& set, const Options& options, int64_t epoch) {
  const DatasetFacts& facts = kDatasets.at(options.dataset);
  model->train();
  auto order_generator = at::make_generator<at::CPUGeneratorImpl>(options.seed + epoch);
  auto augment_generator = at::make_generator<at::CPUGeneratorImpl>(options.seed * 1000003 + epoch);
  const torch::Tensor order = torch::randperm(set.images.size(0), order_generator, torch::kLong);
  const int64_t batches = set.images.size(0) / options.batch_size;
  const auto started = std::chrono::steady_clock::now();
  double loss_sum = 0, correct = 0;
  for (int64_t b = 0; b < batches; ++b) {
    const torch::Tensor index = order.narrow(0, b * options.batch_size, options.batch_size);
    torch::Tensor pixels = set.images.index_select(0, index);
    if (options.augment) pixels = random_crop_flip(pixels, facts.flip, augment_generator);
    const torch::Tensor labels = set.labels.index_select(0, index);
    torch::Tensor logits;
    {
      const CpuBFloat16Autocast autocast(options.bf16);
      logits = model->forward(normalize(pixels, facts));
    }
    logits = logits.to(torch::kFloat);  // the loss in float32, as `mtsnn train` computes it
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    optimizer.zero_grad();
    (loss / options.batch_size).backward();
    optimizer.step();
    loss_sum += loss.item<double>();
    correct += logits.argmax(1).eq(labels).sum().item<double>();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double images = static_cast<double>(batches * options.batch_size);
  return {loss_sum / images, correct / images, seconds};
}

mtsnn::models::ConvNet build(const mtsnn::TrainConfig& config, bool channels_last) {
  mtsnn::models::ConvNet model =
      mtsnn::models::build_model(config.model, mtsnn::models::ConvNetOptions()
                                                   .timesteps(config.timesteps)
                                                   .ann(config.ann)
                                                   .neuron(mtsnn::nn::MTLIFOptions(config.neuron)));
  if (channels_last) mtsnn::nn::to_channels_last(*model);
  return model;
}

mtsnn::TrainConfig config_of(const Options& options) {
  mtsnn::TrainConfig config;
  config.dataset = options.dataset;
  config.model = options.model;
  config.timesteps = options.ann ? 1 : options.timesteps;
  config.ann = options.ann;
  config.optimizer = "adam";
  config.lr = options.lr;
  config.weight_decay = 0.0;
  config.epochs = options.epochs;
  config.batch_size = options.batch_size;
  config.augment = options.augment;
  config.seed = options.seed;
  config.limit_train = options.limit_train;
  config.limit_test = options.limit_test;
  return config;
}

int evaluate_checkpoint(const Options& options) {
  const mtsnn::Checkpoint checkpoint = mtsnn::load_checkpoint(options.evaluate);
  const DatasetFacts& facts = kDatasets.at(checkpoint.config.dataset);
  // As `mtsnn eval`: the layout the run was evaluated in (rounding differs between layouts).
  mtsnn::models::ConvNet model = build(checkpoint.config, checkpoint.channels_last);
  mtsnn::restore_model(checkpoint, *model);
  const auto test =
      subset(mtsnn::data::load_idx_split(options.data_dir, "test"), checkpoint.config.limit_test);
  const Figures figures = evaluate(model, test, facts);
  std::printf("test accuracy %.2f%% (%lld/%lld images), loss %.4f; checkpoint of epoch %lld\n",
              100 * figures.accuracy,
              static_cast<long long>(std::llround(figures.accuracy * test.images.size(0))),
              static_cast<long long>(test.images.size(0)), figures.loss,
              static_cast<long long>(checkpoint.epoch));
  return 0;
}

int train(const Options& options) {
  const DatasetFacts& facts = kDatasets.at(options.dataset);
  const auto train_set =
      subset(mtsnn::data::load_idx_split(options.data_dir, "train"), options.limit_train);
  const auto test_set =
      subset(mtsnn::data::load_idx_split(options.data_dir, "test"), options.limit_test);
  if (train_set.images.size(0) < options.batch_size) {
    throw std::invalid_argument("the training set is smaller than one batch");
  }
  const mtsnn::TrainConfig config = config_of(options);
  torch::manual_seed(options.seed);
  mtsnn::models::ConvNet model = build(config, options.channels_last);
  torch::optim::Adam optimizer(model->parameters(), torch::optim::AdamOptions(options.lr));
  std::printf("training %s on %s (%lld train / %lld test images) in C++, %d threads, T = %lld%s\n",
              options.model.c_str(), options.dataset.c_str(),
              static_cast<long long>(train_set.images.size(0)),
              static_cast<long long>(test_set.images.size(0)), at::get_num_threads(),
              static_cast<long long>(model->timesteps()),
              options.bf16 ? ", bfloat16 autocast" : "");
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    const double lr = options.lr * 0.5 * (1 + std::cos(M_PI * epoch / options.epochs));
    for (auto& group : optimizer.param_groups()) {
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
    }
    const Figures trained = train_epoch(model, optimizer, train_set, options, epoch);
    const Figures tested = evaluate(model, test_set, facts);
    const double images_per_s =
        static_cast<double>(train_set.images.size(0) / options.batch_size * options.batch_size) /
        trained.seconds;
    std::printf(
        "epoch %lld/%lld  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  lr %.3g  "
        "%.1f s  %.0f img/s\n",
        static_cast<long long>(epoch + 1), static_cast<long long>(options.epochs), trained.loss,
        100 * trained.accuracy, tested.loss, 100 * tested.accuracy, lr, trained.seconds,
        images_per_s);
    std::fflush(stdout);
    const std::map<std::string, double> metrics{
        {"train_loss", trained.loss},
        {"train_accuracy", trained.accuracy},
        {"test_loss", tested.loss},
        {"test_accuracy", tested.accuracy},
        {"lr", lr},
        {"train_seconds", trained.seconds},
        {"images_per_s", images_per_s},
    };
    mtsnn::DatasetInfo dataset;
    dataset.name = options.dataset;
    dataset.source = train_set.source;
    dataset.train_images = train_set.images.size(0);
    dataset.test_images = test_set.images.size(0);
    mtsnn::save_checkpoint(options.out, *model, epoch + 1, config, metrics, dataset,
                           options.data_dir, options.channels_last);
  }
  std::printf("final test accuracy in %s/checkpoint.json\n", options.out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return examples::exit_status_of("mtsnn-train-mnist", [&] {
    const Options options = parse(argc, argv);
    if (options.threads > 0) at::set_num_threads(static_cast<int>(options.threads));
    if (options.keep_memory) mtsnn::keep_freed_memory();
    return options.evaluate.empty() ? train(options) : evaluate_checkpoint(options);
  });
}

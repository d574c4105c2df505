// mtsnn-predict: runs a model exported by `mtsnn export` (an AOTInductor package, .pt2) on an IDX
// test set and reports its accuracy; nothing from Python is needed. The package takes raw uint8
// images [B, C, H, W] (the normalisation is inside it) and returns logits [B, classes].
//
//   mtsnn-predict MODEL.pt2 DATA_DIR [--split test] [--batch-size 500] [--threads N]
//                 [--limit N] [--save-logits FILE.safetensors] [--benchmark]
//
// --benchmark prints one JSON line instead: the median latency of one image (batch 1) and the
// throughput at batch 256, over repeated runs.
//
// A package is compiled for the instruction set of the CPU that exported it and against one torch
// version; both are recorded in it, and a mismatch is refused here instead of crashing.
#include <mtsnn/mtsnn.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "arguments.h"

namespace {

// What `mtsnn export` writes into the package's metadata (mtsnn/training/export.py).
constexpr const char* kFormat = "mtsnn-aoti-1";

struct Options {
  std::string package, data_dir, split = "test", save_logits;
  int64_t batch_size = 500, threads = 0, limit = 0;
  bool benchmark = false;
};

Options parse(int argc, char** argv) {
  Options options;
  std::vector<std::string> positional;
  examples::Arguments args(argc, argv, "predict.cpp");
  while (args.next()) {
    const std::string flag = args.flag();
    if (flag == "--split") {
      options.split = args.value();
    } else if (flag == "--batch-size") {
      options.batch_size = args.integer(1);
    } else if (flag == "--threads") {
      options.threads = args.integer(1);
    } else if (flag == "--limit") {
      options.limit = args.integer(1);
    } else if (flag == "--save-logits") {
      options.save_logits = args.value();
    } else if (flag == "--benchmark") {
      options.benchmark = true;
    } else if (flag.rfind("--", 0) == 0) {
      args.error("unknown option " + flag);
    } else {
      positional.push_back(flag);
    }
  }
  if (positional.size() != 2) args.error("expected MODEL.pt2 DATA_DIR");
  options.package = positional[0];
  options.data_dir = positional[1];
  if (options.split != "test" && options.split != "train") args.error("--split is test or train");
  return options;
}

std::string metadata_value(const std::unordered_map<std::string, std::string>& metadata,
                           const std::string& key, const std::string& package) {
  const auto found = metadata.find(key);
  if (found == metadata.end()) {
    throw std::runtime_error(package + ": its metadata has no '" + key +
                             "'; was it written by `mtsnn export`?");
  }
  return found->second;
}

// The CPU features behind the -m flags Inductor compiles packages with, as this CPU reports them.
const std::map<std::string, bool (*)()>& cpu_features() {
  static const std::map<std::string, bool (*)()> features {
#if defined(__x86_64__)
    {"-mavx2", [] { return __builtin_cpu_supports("avx2") != 0; }},
        {"-mfma", [] { return __builtin_cpu_supports("fma") != 0; }},
        {"-mf16c", [] { return __builtin_cpu_supports("f16c") != 0; }},
        {"-mavx512f", [] { return __builtin_cpu_supports("avx512f") != 0; }},
        {"-mavx512dq", [] { return __builtin_cpu_supports("avx512dq") != 0; }},
        {"-mavx512vl", [] { return __builtin_cpu_supports("avx512vl") != 0; }},
        {"-mavx512bw", [] { return __builtin_cpu_supports("avx512bw") != 0; }},
        {"-mavx512vnni", [] { return __builtin_cpu_supports("avx512vnni") != 0; }},
        {"-mavx512bf16", [] { return __builtin_cpu_supports("avx512bf16") != 0; }},
        {"-mamx-tile", [] { return __builtin_cpu_supports("amx-tile") != 0; }},
        {"-mamx-bf16", [] { return __builtin_cpu_supports("amx-bf16") != 0; }},
        {"-mamx-int8", [] { return __builtin_cpu_supports("amx-int8") != 0; }},
#endif
  };
  return features;
}

// Throws unless this CPU has every feature the package's flags select.
void check_cpu(const std::string& flags, const std::string& isa, const std::string& package) {
  std::istringstream words(flags);
  for (std::string flag; words >> flag;) {
    const auto feature = cpu_features().find(flag);
    if (feature == cpu_features().end()) {
      throw std::runtime_error(package + ": compiled with " + flag +
                               ", a CPU feature this runner cannot check; export it on this "
                               "machine");
    }
    if (!feature->second()) {
      throw std::runtime_error(package + ": compiled for " + isa + " CPUs (" + flag +
                               "), which this processor is not; export it on this machine");
    }
  }
}

// Refuses a file that is not an mtsnn package for this torch and this CPU, before loading it.
void check_package(const std::string& package) {
  std::ifstream file(package, std::ios::binary);
  char magic[4] = {};
  if (!file.read(magic, 4)) throw std::runtime_error(package + ": missing or empty");
  if (std::string(magic, 4) != std::string("PK\x03\x04", 4)) {
    throw std::runtime_error(package + ": not a .pt2 package (not a zip archive)");
  }
  const auto metadata =
      torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(package, "model");
  if (metadata_value(metadata, "mtsnn_format", package) != kFormat) {
    throw std::runtime_error(package + ": package format " + metadata.at("mtsnn_format") +
                             ", this runner reads " + kFormat);
  }
  const std::string torch_version = metadata_value(metadata, "torch_version", package);
  if (torch_version.rfind(TORCH_VERSION, 0) != 0) {
    throw std::runtime_error(package + ": compiled with torch " + torch_version +
                             ", but this runner uses torch " + TORCH_VERSION +
                             "; export it again with this torch");
  }
  check_cpu(metadata_value(metadata, "cpu_flags", package),
            metadata_value(metadata, "cpu_isa", package), package);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Median seconds of `calls` calls of `run` after two warm-up calls.
template <typename Run>
double median_seconds(Run&& run, int calls) {
  run();
  run();
  std::vector<double> times;
  for (int i = 0; i < calls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(seconds_since(start));
  }
  std::nth_element(times.begin(), times.begin() + calls / 2, times.end());
  return times[calls / 2];
}

int benchmark(torch::inductor::AOTIModelPackageLoader& loader, const torch::Tensor& images) {
  const torch::Tensor one = images.narrow(0, 0, 1).contiguous();
  const torch::Tensor batch =
      images.narrow(0, 0, std::min<int64_t>(256, images.size(0))).contiguous();
  const double latency = median_seconds([&] { loader.run({one}); }, 200);
  const double batch_time = median_seconds([&] { loader.run({batch}); }, 20);
  std::printf(
      "{\"latency_batch1_ms\": %.6f, \"throughput_batch%lld_images_per_s\": %.3f, "
      "\"batch_ms\": %.6f, \"threads\": %d}\n",
      latency * 1e3, static_cast<long long>(batch.size(0)), batch.size(0) / batch_time,
      batch_time * 1e3, at::get_num_threads());
  return 0;
}

int predict(const Options& options) {
  check_package(options.package);
  mtsnn::data::ImageSet set = mtsnn::data::load_idx_split(options.data_dir, options.split);
  if (options.limit > 0 && options.limit < set.images.size(0)) {
    set.images = set.images.narrow(0, 0, options.limit);
    set.labels = set.labels.narrow(0, 0, options.limit);
  }
  const auto started = std::chrono::steady_clock::now();
  torch::inductor::AOTIModelPackageLoader loader(options.package);
  if (options.benchmark) return benchmark(loader, set.images);
  const torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> logits;
  const int64_t size = set.images.size(0);
  for (int64_t start = 0; start < size; start += options.batch_size) {
    const int64_t count = std::min(options.batch_size, size - start);
    logits.push_back(loader.run({set.images.narrow(0, start, count).contiguous()}).at(0));
  }
  const torch::Tensor all = torch::cat(logits);
  const int64_t correct = all.argmax(1).eq(set.labels).sum().item<int64_t>();
  std::printf("%s accuracy %.2f%% (%lld/%lld images) in %.1f s\n", options.split.c_str(),
              100.0 * correct / size, static_cast<long long>(correct), static_cast<long long>(size),
              seconds_since(started));
  if (!options.save_logits.empty()) {
    mtsnn::write_safetensors(options.save_logits, {{"logits", all}});
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return examples::exit_status_of("mtsnn-predict", [&] {
    const Options options = parse(argc, argv);
    if (options.threads > 0) at::set_num_threads(static_cast<int>(options.threads));
    return predict(options);
  });
}

// One table of TrainConfig's fields drives both directions, so a field added to the struct and
// the table is written, read and checked alike.
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <stdexcept>
#include <variant>
#include <vector>

#include "api/python_json.h"
#include "api/train_config_json.h"

namespace mtsnn {
namespace {

using Json = nlohmann::ordered_json;

using Member =
    std::variant<std::string TrainConfig::*, int64_t TrainConfig::*, double TrainConfig::*,
                 bool TrainConfig::*, std::optional<int64_t> TrainConfig::*>;

struct Field {
  const char* name;
  Member member;
  // Added after the first release: may be missing from a stored config (Python's LATER_FIELDS).
  bool later = false;
};

const std::array<Field, 26> kFields = {{{"dataset", &TrainConfig::dataset},
                                        {"model", &TrainConfig::model},
                                        {"timesteps", &TrainConfig::timesteps},
                                        {"num_thresholds", &TrainConfig::num_thresholds},
                                        {"threshold", &TrainConfig::threshold},
                                        {"decay", &TrainConfig::decay},
                                        {"reset", &TrainConfig::reset},
                                        {"surrogate", &TrainConfig::surrogate},
                                        {"width", &TrainConfig::width},
                                        {"ann", &TrainConfig::ann},
                                        {"optimizer", &TrainConfig::optimizer},
                                        {"lr", &TrainConfig::lr},
                                        {"momentum", &TrainConfig::momentum},
                                        {"weight_decay", &TrainConfig::weight_decay},
                                        {"epochs", &TrainConfig::epochs},
                                        {"batch_size", &TrainConfig::batch_size},
                                        {"grad_accum", &TrainConfig::grad_accum},
                                        {"augment", &TrainConfig::augment},
                                        {"seed", &TrainConfig::seed},
                                        {"limit_train", &TrainConfig::limit_train},
                                        {"limit_test", &TrainConfig::limit_test},
                                        {"sync_bn", &TrainConfig::sync_bn},
                                        {"deterministic", &TrainConfig::deterministic},
                                        {"validation", &TrainConfig::validation, true},
                                        {"rotation", &TrainConfig::rotation, true},
                                        {"scaling", &TrainConfig::scaling, true}}};

Json to_json_value(const std::optional<int64_t>& value) { return value ? Json(*value) : Json(); }

template <typename T>
Json to_json_value(const T& value) {
  return Json(value);
}

// Python's repr of a sorted list of names: ['a', 'b'].
std::string python_list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (const std::string& name : names) {
    out += (out.size() > 1 ? ", '" : "'") + name + "'";
  }
  return out + "]";
}

std::optional<int64_t> as_int64(const Json& value) {
  if (!value.is_number_integer() ||
      (value.is_number_unsigned() && value.get<uint64_t>() > uint64_t{INT64_MAX})) {
    return std::nullopt;
  }
  return value.get<int64_t>();
}

// Sets config.*member from value, or returns what value should have been.
const char* assign(TrainConfig& config, std::string TrainConfig::*member, const Json& value) {
  if (!value.is_string()) {
    return "a string";
  }
  config.*member = value.get<std::string>();
  return nullptr;
}

const char* assign(TrainConfig& config, int64_t TrainConfig::*member, const Json& value) {
  const std::optional<int64_t> number = as_int64(value);
  if (!number) {
    return "an integer";
  }
  config.*member = *number;
  return nullptr;
}

const char* assign(TrainConfig& config, double TrainConfig::*member, const Json& value) {
  if (!value.is_number()) {
    return "a number";
  }
  config.*member = value.get<double>();
  return nullptr;
}

const char* assign(TrainConfig& config, bool TrainConfig::*member, const Json& value) {
  if (!value.is_boolean()) {
    return "true or false";
  }
  config.*member = value.get<bool>();
  return nullptr;
}

const char* assign(TrainConfig& config, std::optional<int64_t> TrainConfig::*member,
                   const Json& value) {
  const std::optional<int64_t> number = as_int64(value);
  if (!value.is_null() && !number) {
    return "an integer or null";
  }
  config.*member = number;
  return nullptr;
}

}  // namespace

NeuronOptions TrainConfig::neuron_options() const {
  return NeuronOptions()
      .num_thresholds(num_thresholds)
      .threshold(threshold)
      .decay(decay)
      .reset(reset)
      .surrogate(surrogate)
      .width(width);
}

namespace detail {

Json train_config_to_dict(const TrainConfig& config) {
  Json values = Json::object();
  for (const Field& field : kFields) {
    std::visit([&](auto member) { values[field.name] = to_json_value(config.*member); },
               field.member);
  }
  return values;
}

TrainConfig train_config_from_dict(const Json& values, const std::string& source_name) {
  const std::string where = source_name + ": invalid config: ";
  TORCH_CHECK_VALUE(values.is_object(), where, "not a JSON object");
  std::set<std::string> unknown;
  for (auto item = values.begin(); item != values.end(); ++item) {
    unknown.insert(item.key());
  }
  std::vector<std::string> missing;
  for (const Field& field : kFields) {
    if (unknown.erase(field.name) == 0 && !field.later) {
      missing.emplace_back(field.name);
    }
  }
  std::sort(missing.begin(), missing.end());
  TORCH_CHECK_VALUE(unknown.empty() && missing.empty(), where, "config keys do not match: unknown ",
                    python_list({unknown.begin(), unknown.end()}), ", missing ",
                    python_list(missing));
  TrainConfig config;
  for (const Field& field : kFields) {
    const auto value = values.find(field.name);
    if (value == values.end()) {
      continue;  // a later field: keeps its default
    }
    const char* expected =
        std::visit([&](auto member) { return assign(config, member, *value); }, field.member);
    TORCH_CHECK_VALUE(expected == nullptr, where, field.name, " must be ", expected, ", got ",
                      value->dump());
  }
  return config;
}

}  // namespace detail

std::string train_config_to_json(const TrainConfig& config) {
  return detail::dump_python_json(detail::train_config_to_dict(config));
}

TrainConfig train_config_from_json(std::string_view json, const std::string& source_name) {
  Json values;
  try {
    values = detail::parse_python_json(json);
  } catch (const std::invalid_argument& error) {
    TORCH_CHECK_VALUE(false, source_name, ": invalid config: not valid JSON: ", error.what());
  }
  return detail::train_config_from_dict(values, source_name);
}

}  // namespace mtsnn

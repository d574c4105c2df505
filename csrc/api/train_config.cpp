// One table of TrainConfig's fields (and the neuron's, from MTSNN_NEURON_OPTIONS) drives both
// directions, so a field added to the struct and the table is written, read and checked alike.
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

const std::array<Field, 20> kFields = {{{"dataset", &TrainConfig::dataset},
                                        {"model", &TrainConfig::model},
                                        {"timesteps", &TrainConfig::timesteps},
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

// The neuron's options that came after the first release (Python's LATER_FIELDS too).
const std::set<std::string> kLaterNeuronOptions = {"detach_reset"};

// The names of the neuron's options, in their declared order.
const std::vector<std::string>& neuron_option_names() {
  static const std::vector<std::string> names{
#define MTSNN_OPTION_NAME(type, name, default_value) #name,
      MTSNN_NEURON_OPTIONS(MTSNN_OPTION_NAME)
#undef MTSNN_OPTION_NAME
  };
  return names;
}

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

// Sets target from value, or returns what value should have been.
const char* assign(std::string& target, const Json& value) {
  if (!value.is_string()) {
    return "a string";
  }
  target = value.get<std::string>();
  return nullptr;
}

const char* assign(int64_t& target, const Json& value) {
  const std::optional<int64_t> number = as_int64(value);
  if (!number) {
    return "an integer";
  }
  target = *number;
  return nullptr;
}

const char* assign(double& target, const Json& value) {
  if (!value.is_number()) {
    return "a number";
  }
  target = value.get<double>();
  return nullptr;
}

const char* assign(bool& target, const Json& value) {
  if (!value.is_boolean()) {
    return "true or false";
  }
  target = value.get<bool>();
  return nullptr;
}

const char* assign(std::optional<int64_t>& target, const Json& value) {
  const std::optional<int64_t> number = as_int64(value);
  if (!value.is_null() && !number) {
    return "an integer or null";
  }
  target = number;
  return nullptr;
}

}  // namespace

namespace detail {

Json train_config_to_dict(const TrainConfig& config) {
  Json values = Json::object();
#define MTSNN_WRITE_OPTION(type, name, default_value) values[#name] = config.neuron.name();
  MTSNN_NEURON_OPTIONS(MTSNN_WRITE_OPTION)
#undef MTSNN_WRITE_OPTION
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
  for (const std::string& name : neuron_option_names()) {
    if (unknown.erase(name) == 0 && kLaterNeuronOptions.count(name) == 0) {
      missing.push_back(name);
    }
  }
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
  // Each field present (a later one may be missing: it keeps its default) must have its type.
  const auto read = [&](const char* name, auto& target) {
    const auto value = values.find(name);
    if (value == values.end()) return;
    const char* expected = assign(target, *value);
    TORCH_CHECK_VALUE(expected == nullptr, where, name, " must be ", expected, ", got ",
                      value->dump());
  };
#define MTSNN_READ_OPTION(type, name, default_value) read(#name, config.neuron.name());
  MTSNN_NEURON_OPTIONS(MTSNN_READ_OPTION)
#undef MTSNN_READ_OPTION
  for (const Field& field : kFields) {
    std::visit([&](auto member) { read(field.name, config.*member); }, field.member);
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

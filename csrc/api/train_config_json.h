// TrainConfig as a nlohmann JSON value, for checkpoint.cpp, which embeds it in checkpoint.json.
#pragma once

#include <mtsnn/checkpoint.h>

#include <nlohmann/json.hpp>
#include <string>

namespace mtsnn::detail {

// Every field of config, in the order of Python's dataclass.
nlohmann::ordered_json train_config_to_dict(const TrainConfig& config);

// The config in values (see train_config_from_json). Throws c10::ValueError starting with
// "<source_name>: invalid config: ".
TrainConfig train_config_from_dict(const nlohmann::ordered_json& values,
                                   const std::string& source_name);

}  // namespace mtsnn::detail

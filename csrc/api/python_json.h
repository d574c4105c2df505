// JSON as Python's json module writes and reads it: standard JSON plus the bare tokens NaN,
// Infinity and -Infinity for non-finite floats (json.dumps writes them, for a diverged loss say),
// which nlohmann::json refuses.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mtsnn::detail {

// The value of JSON text (keys in the text's order) in which NaN, Infinity and -Infinity outside
// strings stand for those floats, as json.loads reads them. Throws std::invalid_argument saying
// what is wrong (nlohmann's message, with its byte position) when the text is not such JSON.
nlohmann::ordered_json parse_python_json(std::string_view text);

// json.dumps(value, indent=1): one item per line, indented by one space per level, non-ASCII
// escaped, and non-finite floats written as NaN, Infinity or -Infinity. Throws
// std::invalid_argument when a string is not valid UTF-8.
std::string dump_python_json(const nlohmann::ordered_json& value);

}  // namespace mtsnn::detail

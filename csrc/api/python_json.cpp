// nlohmann::json cannot hold a non-finite float parsed from text, so parsing first rewrites each
// bare NaN, Infinity and -Infinity into a string that no string of the text can equal, then turns
// those strings back into floats.
#include "api/python_json.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace mtsnn::detail {
namespace {

using Json = nlohmann::ordered_json;

// "-Infinity" before "Infinity": the minus sign belongs to the token.
constexpr std::array<std::string_view, 3> kNonFinite = {"-Infinity", "Infinity", "NaN"};

double non_finite_value(std::string_view token) {
  if (token == "NaN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double infinity = std::numeric_limits<double>::infinity();
  return token == "Infinity" ? infinity : -infinity;
}

// A control character whose escape does not occur in text, so that no string of text contains
// it: the marker strings start with it. Raw control characters are invalid inside JSON strings,
// so "\u00XX" (either case of hex) is the only way a string could hold one.
std::optional<char> unused_control_character(std::string_view text) {
  for (int c = 1; c < 0x20; ++c) {
    std::array<char, 8> lower{}, upper{};
    std::snprintf(lower.data(), lower.size(), "\\u%04x", c);
    std::snprintf(upper.data(), upper.size(), "\\u%04X", c);
    if (text.find(lower.data()) == std::string_view::npos &&
        text.find(upper.data()) == std::string_view::npos) {
      return static_cast<char>(c);
    }
  }
  return std::nullopt;
}

// text with each non-finite token outside strings replaced by a JSON string of the marker
// character (as its escape) and the token; nullopt when text has no such token.
std::optional<std::string> quote_non_finite(std::string_view text, char marker) {
  std::array<char, 8> escape{};
  std::snprintf(escape.data(), escape.size(), "\\u%04x", marker);
  std::string out;
  bool in_string = false, replaced = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < text.size()) {
        out += text[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    in_string = c == '"';
    bool matched = false;
    for (const std::string_view token : kNonFinite) {
      if (text.substr(i, token.size()) == token) {
        out.append("\"").append(escape.data()).append(token).append("\"");
        i += token.size() - 1;
        matched = replaced = true;
        break;
      }
    }
    if (!matched) {
      out += c;
    }
  }
  return replaced ? std::optional<std::string>(std::move(out)) : std::nullopt;
}

void unquote_non_finite(Json& value, char marker) {
  if (value.is_structured()) {
    for (Json& child : value) {
      unquote_non_finite(child, marker);
    }
    return;
  }
  if (!value.is_string()) {
    return;
  }
  const auto& text = value.get_ref<const std::string&>();
  if (!text.empty() && text.front() == marker) {
    for (const std::string_view token : kNonFinite) {
      if (std::string_view(text).substr(1) == token) {
        value = non_finite_value(token);
        return;
      }
    }
  }
}

std::string dump_leaf(const Json& value) {
  if (value.is_number_float() && !std::isfinite(value.get<double>())) {
    const double number = value.get<double>();
    return std::isnan(number) ? "NaN" : number > 0 ? "Infinity" : "-Infinity";
  }
  return value.dump(-1, ' ', /*ensure_ascii=*/true);
}

void dump_indented(const Json& value, size_t depth, std::string& out) {
  if (!value.is_structured() || value.empty()) {
    out += dump_leaf(value);
    return;
  }
  const bool is_object = value.is_object();
  out += is_object ? '{' : '[';
  for (auto item = value.begin(); item != value.end(); ++item) {
    out += item == value.begin() ? "\n" : ",\n";
    out.append(depth + 1, ' ');
    if (is_object) {
      out.append(dump_leaf(Json(item.key()))).append(": ");
    }
    dump_indented(item.value(), depth + 1, out);
  }
  out += '\n';
  out.append(depth, ' ');
  out += is_object ? '}' : ']';
}

}  // namespace

Json parse_python_json(std::string_view text) {
  // nlohmann::json stops at a NUL byte as at the end of the text; json.loads refuses it.
  const size_t nul = text.find('\0');
  if (nul != std::string_view::npos) {
    throw std::invalid_argument("a NUL byte at offset " + std::to_string(nul));
  }
  try {
    const std::optional<char> marker = unused_control_character(text);
    std::optional<std::string> quoted;
    if (marker) {
      quoted = quote_non_finite(text, *marker);
    }
    if (!quoted) {
      // No non-finite token; or no free marker, and nlohmann reports the tokens as invalid.
      return Json::parse(text);
    }
    Json value = Json::parse(*quoted);
    unquote_non_finite(value, *marker);
    return value;
  } catch (const Json::exception& error) {
    throw std::invalid_argument(error.what());
  }
}

std::string dump_python_json(const Json& value) {
  try {
    std::string out;
    dump_indented(value, 0, out);
    return out;
  } catch (const Json::exception& error) {
    throw std::invalid_argument(error.what());
  }
}

}  // namespace mtsnn::detail

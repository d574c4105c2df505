// Command-line parsing shared by the example programs: a flag's value, integers with a lower
// bound, usage errors (std::invalid_argument), and main's report of every error.
#pragma once

#include <c10/util/Exception.h>

#include <cstdint>
#include <iostream>
#include <stdexcept>
#include <string>

namespace examples {

// The flags of argv one at a time; value() takes the next argument as the current flag's value.
class Arguments {
 public:
  Arguments(int argc, char** argv, std::string program)
      : argc_(argc), argv_(argv), program_(std::move(program)) {}

  bool next() { return ++index_ < argc_; }
  std::string flag() const { return argv_[index_]; }
  std::string value() {
    if (index_ + 1 >= argc_) error(flag() + " needs a value");
    return argv_[++index_];
  }
  // The current flag's value as an integer >= low.
  int64_t integer(int64_t low) {
    const std::string name = flag(), text = value();
    size_t used = 0;
    int64_t number = 0;
    try {
      number = std::stoll(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != text.size() || number < low) {
      error(name + " needs an integer >= " + std::to_string(low) + ", got " + text);
    }
    return number;
  }
  [[noreturn]] void error(const std::string& message) const {
    throw std::invalid_argument(message + " (see the usage at the top of " + program_ + ")");
  }

 private:
  int argc_;
  char** argv_;
  std::string program_;
  int index_ = 0;
};

// Runs a program's body and returns its exit status: the body's own, 2 after a usage error, 1
// after any other error, each reported on stderr as "<program>: ..." (LibTorch's errors without
// their C++ backtrace).
template <typename Body>
int exit_status_of(const char* program, Body&& body) {
  try {
    return body();
  } catch (const std::invalid_argument& error) {
    std::cerr << program << ": usage error: " << error.what() << std::endl;
    return 2;
  } catch (const c10::Error& error) {
    std::cerr << program << ": error: " << error.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::exception& error) {
    std::cerr << program << ": error: " << error.what() << std::endl;
    return 1;
  }
}

}  // namespace examples

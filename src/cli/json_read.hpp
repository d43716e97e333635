// A small JSON reader for the daemon's user.famfs.status and user.famfs.logplay values (the
// writer is JsonObject in cli/util.hpp). JSON is not in the project's dependency list, and these
// values are small objects produced by our own daemon.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace famfs::cli {

struct JsonValue {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string text; // string value, or the literal text of a number
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;

  const JsonValue* get(std::string_view key) const; // object member or nullptr
  bool is_null() const { return type == Type::Null; }
  // Typed accessors with a default when absent or of another type.
  uint64_t u64(std::string_view key, uint64_t dflt = 0) const;
  int64_t i64(std::string_view key, int64_t dflt = 0) const;
  bool flag(std::string_view key, bool dflt = false) const;
  std::string str(std::string_view key, std::string dflt = {}) const;
};
std::optional<JsonValue> json_parse(std::string_view text, std::string* why = nullptr);

} // namespace famfs::cli

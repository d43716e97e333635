// The one rule for writing a JSON report (daemon and CLI): nlohmann-json, keys in the order
// they were added, and strings that are not valid UTF-8 (paths and log entries are bytes, and
// a hostile log can hold anything) have the bad bytes replaced by U+FFFD: a report is always
// written, never an exception.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace famfs::proto {

using Json = nlohmann::ordered_json;

// `indent` -1: one line, compact; N >= 0: pretty-printed with N spaces.
inline std::string json_text(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

} // namespace famfs::proto

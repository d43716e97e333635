#include "cli/json_read.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace famfs::cli {

namespace {

struct JsonParser {
  std::string_view s;
  size_t i = 0;
  std::string err;

  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  }
  bool fail(const std::string& w) {
    if (err.empty()) err = w + " at offset " + std::to_string(i);
    return false;
  }
  bool lit(std::string_view w) {
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  bool hex4(uint32_t& v) {
    if (i + 4 > s.size()) return fail("short \\u escape");
    v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = s[i++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') v |= uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= uint32_t(c - 'A' + 10);
      else return fail("bad \\u escape");
    }
    return true;
  }
  bool string(std::string& out) {
    if (i >= s.size() || s[i] != '"') return fail("expected string");
    ++i;
    while (i < s.size()) {
      char c = s[i++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) break;
      char e = s[i++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t v = 0;
          if (!hex4(v)) return false;
          if (v >= 0xD800 && v < 0xDC00 && s.substr(i, 2) == "\\u") {
            i += 2;
            uint32_t lo = 0;
            if (!hex4(lo)) return false;
            v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, v);
          break;
        }
        default: return fail("bad escape");
      }
    }
    return fail("unterminated string");
  }
  bool value(JsonValue& v, int depth) {
    if (depth > 64) return fail("nested too deep");
    ws();
    if (i >= s.size()) return fail("unexpected end");
    char c = s[i];
    if (c == '{') {
      ++i;
      v.type = JsonValue::Type::Object;
      ws();
      if (i < s.size() && s[i] == '}') {
        ++i;
        return true;
      }
      while (true) {
        ws();
        std::string k;
        if (!string(k)) return false;
        ws();
        if (i >= s.size() || s[i] != ':') return fail("expected ':'");
        ++i;
        JsonValue m;
        if (!value(m, depth + 1)) return false;
        v.object.emplace_back(std::move(k), std::move(m));
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == '}') {
          ++i;
          return true;
        }
        return fail("expected ',' or '}'");
      }
    }
    if (c == '[') {
      ++i;
      v.type = JsonValue::Type::Array;
      ws();
      if (i < s.size() && s[i] == ']') {
        ++i;
        return true;
      }
      while (true) {
        JsonValue m;
        if (!value(m, depth + 1)) return false;
        v.array.push_back(std::move(m));
        ws();
        if (i < s.size() && s[i] == ',') {
          ++i;
          continue;
        }
        if (i < s.size() && s[i] == ']') {
          ++i;
          return true;
        }
        return fail("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.type = JsonValue::Type::String;
      return string(v.text);
    }
    if (lit("true")) {
      v.type = JsonValue::Type::Bool;
      v.boolean = true;
      return true;
    }
    if (lit("false")) {
      v.type = JsonValue::Type::Bool;
      return true;
    }
    if (lit("null")) {
      v.type = JsonValue::Type::Null;
      return true;
    }
    size_t start = i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.' ||
                            s[i] == 'e' || s[i] == 'E' || s[i] == '-' || s[i] == '+'))
      ++i;
    if (i == start) return fail("unexpected character");
    v.type = JsonValue::Type::Number;
    v.text = std::string(s.substr(start, i - start));
    v.number = std::strtod(v.text.c_str(), nullptr);
    return true;
  }
};

} // namespace

const JsonValue* JsonValue::get(std::string_view key) const {
  if (type != Type::Object) return nullptr;
  for (const auto& [k, v] : object)
    if (k == key) return &v;
  return nullptr;
}

uint64_t JsonValue::u64(std::string_view key, uint64_t dflt) const {
  const JsonValue* v = get(key);
  if (!v || v->type != Type::Number) return dflt;
  if (!v->text.empty() && v->text[0] != '-' && v->text.find_first_of(".eE") == std::string::npos)
    return std::strtoull(v->text.c_str(), nullptr, 10);
  return v->number < 0 ? 0 : uint64_t(v->number);
}

int64_t JsonValue::i64(std::string_view key, int64_t dflt) const {
  const JsonValue* v = get(key);
  if (!v || v->type != Type::Number) return dflt;
  if (v->text.find_first_of(".eE") == std::string::npos)
    return std::strtoll(v->text.c_str(), nullptr, 10);
  return int64_t(v->number);
}

bool JsonValue::flag(std::string_view key, bool dflt) const {
  const JsonValue* v = get(key);
  if (!v || v->type != Type::Bool) return dflt;
  return v->boolean;
}

std::string JsonValue::str(std::string_view key, std::string dflt) const {
  const JsonValue* v = get(key);
  if (!v || v->type != Type::String) return dflt;
  return v->text;
}

std::optional<JsonValue> json_parse(std::string_view text, std::string* why) {
  JsonParser p;
  p.s = text;
  JsonValue v;
  if (!p.value(v, 0)) {
    if (why) *why = p.err;
    return std::nullopt;
  }
  p.ws();
  if (p.i != text.size()) {
    if (why) *why = "trailing characters at offset " + std::to_string(p.i);
    return std::nullopt;
  }
  return v;
}

} // namespace famfs::cli

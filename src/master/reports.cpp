#include "master/reports.hpp"

#include <nlohmann/json.hpp>

#include "master/paths.hpp"
#include "proto/xattr.h"

namespace famfs::master {

struct JsonReport::Impl {
  nlohmann::json j;
};

namespace {

const nlohmann::json* member(const std::shared_ptr<const JsonReport::Impl>& p, std::string_view key) {
  auto it = p->j.find(key);
  return it == p->j.end() ? nullptr : &*it;
}

} // namespace

std::optional<JsonReport> JsonReport::parse(std::string_view text, std::string* why) {
  auto impl = std::make_shared<Impl>();
  try {
    impl->j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    if (why) *why = e.what();
    return std::nullopt;
  }
  if (!impl->j.is_object()) {
    if (why) *why = std::string("a JSON ") + impl->j.type_name() + ", not an object";
    return std::nullopt;
  }
  return JsonReport(std::move(impl));
}

bool JsonReport::has(std::string_view key) const { return member(j_, key) != nullptr; }

uint64_t JsonReport::u64(std::string_view key, uint64_t dflt) const {
  const nlohmann::json* v = member(j_, key);
  if (!v || !v->is_number()) return dflt;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  if (v->is_number_integer()) return v->get<int64_t>() < 0 ? 0 : uint64_t(v->get<int64_t>());
  double d = v->get<double>();
  return d < 0 ? 0 : uint64_t(d);
}

int64_t JsonReport::i64(std::string_view key, int64_t dflt) const {
  const nlohmann::json* v = member(j_, key);
  if (!v || !v->is_number()) return dflt;
  if (v->is_number_integer()) return v->get<int64_t>();
  return int64_t(v->get<double>());
}

bool JsonReport::flag(std::string_view key, bool dflt) const {
  const nlohmann::json* v = member(j_, key);
  return v && v->is_boolean() ? v->get<bool>() : dflt;
}

std::string JsonReport::str(std::string_view key, std::string dflt) const {
  const nlohmann::json* v = member(j_, key);
  return v && v->is_string() ? v->get<std::string>() : dflt;
}

std::optional<std::string> JsonReport::string_of(std::string_view key) const {
  const nlohmann::json* v = member(j_, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::optional<double> JsonReport::number(std::string_view key) const {
  const nlohmann::json* v = member(j_, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->get<double>();
}

std::optional<std::string> JsonReport::number_text(std::string_view key) const {
  const nlohmann::json* v = member(j_, key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->dump();
}

std::vector<JsonReport> JsonReport::objects(std::string_view key) const {
  std::vector<JsonReport> out;
  const nlohmann::json* v = member(j_, key);
  if (!v || !v->is_array()) return out;
  for (const auto& e : *v)
    if (e.is_object()) out.push_back(JsonReport(std::make_shared<Impl>(Impl{e})));
  return out;
}

std::optional<LogplayReport> parse_logplay_report(std::string_view text, std::string* why) {
  auto j = JsonReport::parse(text, why);
  if (!j) return std::nullopt;
  LogplayReport r;
  if (j->number("entries")) r.entries = j->u64("entries");
  r.new_files = j->u64("new_files");
  r.new_dirs = j->u64("new_dirs");
  r.existed = j->u64("existed");
  for (const JsonReport& s : j->objects("skipped")) {
    LogplayReport::Skipped k;
    if (s.number("index")) k.index = s.u64("index");
    k.what = s.string_of("what");
    r.skipped.push_back(std::move(k));
  }
  r.damaged = j->flag("damaged");
  r.damage_index = j->u64("damage_index");
  r.damage_reason = j->string_of("damage_reason");
  return r;
}

std::optional<std::string> request_logplay(const std::string& mpt, int* err) {
  return get_xattr(mpt, FAMFS_XATTR_LOGPLAY, err);
}

std::vector<LogplayReport::Skipped> RefusalTracker::new_refusals(const LogplayReport& r) {
  std::vector<LogplayReport::Skipped> out;
  for (const auto& s : r.skipped) {
    if (!s.index || first_ == kNone || *s.index < first_ || *s.index < reported_upto_) continue;
    out.push_back(s);
  }
  if (r.entries) reported_upto_ = *r.entries;
  return out;
}

} // namespace famfs::master

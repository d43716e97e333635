// The control socket's codec and framing (control.hpp), through nlohmann-json. Every field a
// peer sends is checked for type and bound; anything else is a refusal, never an exception
// out of here.
#include "proto/control.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "proto/fmap_text.hpp"

namespace famfs::proto::control {

namespace {

using Json = nlohmann::json;

constexpr const char* kOpNames[] = {"hello", "lookup", "reserve", "unreserve", "free_slots",
                                    "allocate", "release", "free_bytes", "append", "logplay"};
constexpr std::size_t kOps = sizeof kOpNames / sizeof kOpNames[0];
static_assert(kOps == std::size_t(Op::Logplay) + 1);

constexpr char kHex[] = "0123456789abcdef";

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string to_hex(const void* p, std::size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  std::string s(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    s[2 * i] = kHex[b[i] >> 4];
    s[2 * i + 1] = kHex[b[i] & 15];
  }
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool from_hex(std::string_view s, void* p, std::size_t n) {
  if (s.size() != 2 * n) return false;
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    b[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

// Typed getters: false (and *why) when the key is missing or of another type.
bool get_u64(const Json& j, const char* key, uint64_t& out, std::string* why) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) {
    if (why) *why = std::string("'") + key + "' must be a number >= 0";
    return false;
  }
  out = it->get<uint64_t>();
  return true;
}

bool get_str(const Json& j, const char* key, std::size_t max, std::string& out, std::string* why) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) {
    if (why) *why = std::string("'") + key + "' must be a string";
    return false;
  }
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > max) {
    if (why) *why = std::string("'") + key + "' is longer than " + std::to_string(max) + " bytes";
    return false;
  }
  out = s;
  return true;
}

bool get_fmap(const Json& j, const char* key, Fmap& f, uint64_t* size, std::string* why) {
  std::string text;
  if (!get_str(j, key, kMaxMessage, text, why)) return false;
  auto ft = parse_fmap_text(text, why);
  if (!ft) return false;
  f = ft->fmap;
  if (size) *size = ft->size;
  return true;
}

std::optional<Op> op_of(std::string_view name) {
  for (std::size_t i = 0; i < kOps; ++i)
    if (name == kOpNames[i]) return Op(i);
  return std::nullopt;
}

bool decode_interleave(const Json& j, Request& r, std::string* why) {
  auto it = j.find("interleave");
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_object()) return *why = "'interleave' must be an object", false;
  uint64_t nb = 0, ns = 0, cs = 0;
  if (!get_u64(*it, "nbuckets", nb, why) || !get_u64(*it, "nstrips", ns, why) ||
      !get_u64(*it, "chunk_size", cs, why))
    return false;
  if (nb > UINT32_MAX || ns > UINT32_MAX) return *why = "interleave counts out of range", false;
  r.interleave = InterleaveParams{uint32_t(nb), uint32_t(ns), cs};
  return true;
}

bool decode_fields(const Json& j, Request& r, std::string* why) {
  switch (r.op) {
    case Op::Hello: {
      uint64_t v = 0;
      if (!get_u64(j, "version", v, why)) return false;
      r.version = uint32_t(v > UINT32_MAX ? UINT32_MAX : v);
      return true;
    }
    case Op::Lookup:
      return get_str(j, "path", omf::kRelpathMax, r.path, why);
    case Op::Reserve:
    case Op::Unreserve:
      if (!get_u64(j, "n", r.n, why)) return false;
      if (r.n > kMaxSlotsPerRequest) return *why = "'n' is beyond any log", false;
      return true;
    case Op::Allocate:
      return get_u64(j, "size", r.n, why) && get_str(j, "what", kMaxWhat, r.path, why) &&
             decode_interleave(j, r, why);
    case Op::Release:
      return get_fmap(j, "fmap", r.fmap, nullptr, why);
    case Op::Append: {
      std::string hex;
      if (!get_str(j, "entry", 2 * sizeof(omf::LogEntry), hex, why)) return false;
      if (!from_hex(hex, &r.entry, sizeof r.entry))
        return *why = "'entry' must be " + std::to_string(sizeof(omf::LogEntry)) +
                      " bytes in lowercase hex", false;
      return true;
    }
    case Op::FreeSlots:
    case Op::FreeBytes:
    case Op::Logplay:
      return true;
  }
  return false;
}

Json found_json(const Found& f) {
  return {{"found", true}, {"is_dir", f.is_dir}, {"mode", f.mode}, {"uid", f.uid},
          {"gid", f.gid}, {"size", f.size}, {"log_index", f.log_index},
          {"fmap", format_fmap_text(f.size, f.fmap)}};
}

bool decode_found(const Json& j, Reply& r, std::string* why) {
  auto it = j.find("found");
  if (it == j.end() || !it->is_boolean()) return *why = "'found' must be a boolean", false;
  if (!it->get<bool>()) return true;
  Found f;
  uint64_t mode = 0, uid = 0, gid = 0;
  auto d = j.find("is_dir");
  if (d == j.end() || !d->is_boolean()) return *why = "'is_dir' must be a boolean", false;
  f.is_dir = d->get<bool>();
  if (!get_u64(j, "mode", mode, why) || !get_u64(j, "uid", uid, why) ||
      !get_u64(j, "gid", gid, why) || !get_u64(j, "size", f.size, why) ||
      !get_u64(j, "log_index", f.log_index, why) || !get_fmap(j, "fmap", f.fmap, nullptr, why))
    return false;
  f.mode = uint32_t(mode);
  f.uid = uint32_t(uid);
  f.gid = uint32_t(gid);
  r.found = std::move(f);
  return true;
}

bool decode_reply_fields(const Json& j, Op op, Reply& r, std::string* why) {
  switch (op) {
    case Op::Hello: {
      uint64_t v = 0, pid = 0;
      if (!get_u64(j, "version", v, why) || !get_u64(j, "pid", pid, why) ||
          !get_str(j, "fs_uuid", kMaxWhat, r.fs_uuid, why) ||
          !get_str(j, "mountpoint", kMaxWhat, r.mountpoint, why))
        return false;
      r.version = uint32_t(v);
      r.pid = long(pid);
      return true;
    }
    case Op::Lookup: return decode_found(j, r, why);
    case Op::Reserve:
    case Op::Unreserve:
    case Op::FreeSlots: return get_u64(j, "free_slots", r.value, why);
    case Op::FreeBytes: return get_u64(j, "free_bytes", r.value, why);
    case Op::Allocate: return get_fmap(j, "fmap", r.fmap, &r.fmap_size, why);
    case Op::Release: return true;
    case Op::Append: {
      if (!get_u64(j, "index", r.value, why)) return false;
      auto it = j.find("refused");
      if (it != j.end() && it->is_string()) r.refused = it->get<std::string>();
      return true;
    }
    case Op::Logplay: return get_str(j, "report", kMaxMessage, r.report, why);
  }
  return false;
}

} // namespace

std::string socket_path(const std::string& run_dir, const std::string& fs_uuid) {
  return run_dir + "/" + fs_uuid + "/" + kSocketName;
}

const char* op_name(Op op) { return kOpNames[std::size_t(op)]; }

std::string encode(const Request& r) {
  Json j = {{"op", op_name(r.op)}};
  switch (r.op) {
    case Op::Hello: j["version"] = r.version; break;
    case Op::Lookup: j["path"] = r.path; break;
    case Op::Reserve:
    case Op::Unreserve: j["n"] = r.n; break;
    case Op::Allocate:
      j["size"] = r.n;
      j["what"] = r.path;
      if (r.interleave)
        j["interleave"] = {{"nbuckets", r.interleave->nbuckets},
                           {"nstrips", r.interleave->nstrips},
                           {"chunk_size", r.interleave->chunk_size}};
      break;
    case Op::Release: j["fmap"] = format_fmap_text(0, r.fmap); break;
    case Op::Append: j["entry"] = to_hex(&r.entry, sizeof r.entry); break;
    case Op::FreeSlots:
    case Op::FreeBytes:
    case Op::Logplay: break;
  }
  return dump(j);
}

std::optional<Request> decode_request(std::string_view text, std::string* why) {
  std::string scratch;
  if (!why) why = &scratch;
  if (text.size() > kMaxMessage) return *why = "request over the size limit", std::nullopt;
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return *why = "request is not a JSON object", std::nullopt;
  std::string name;
  if (!get_str(j, "op", kMaxWhat, name, why)) return std::nullopt;
  auto op = op_of(name);
  if (!op) return *why = "unknown op '" + name + "'", std::nullopt;
  Request r;
  r.op = *op;
  if (!decode_fields(j, r, why)) return std::nullopt;
  return r;
}

std::string encode(const Reply& r, Op op) {
  if (r.err) return dump({{"ok", false}, {"errno", r.err}, {"message", r.message}});
  Json j = {{"ok", true}};
  switch (op) {
    case Op::Hello:
      j["version"] = r.version;
      j["fs_uuid"] = r.fs_uuid;
      j["mountpoint"] = r.mountpoint;
      j["pid"] = r.pid;
      break;
    case Op::Lookup:
      if (r.found) j.update(found_json(*r.found));
      else j["found"] = false;
      break;
    case Op::Reserve:
    case Op::Unreserve:
    case Op::FreeSlots: j["free_slots"] = r.value; break;
    case Op::FreeBytes: j["free_bytes"] = r.value; break;
    case Op::Allocate: j["fmap"] = format_fmap_text(r.fmap_size, r.fmap); break;
    case Op::Release: break;
    case Op::Append:
      j["index"] = r.value;
      j["refused"] = r.refused ? Json(*r.refused) : Json(nullptr);
      break;
    case Op::Logplay: j["report"] = r.report; break;
  }
  return dump(j);
}

std::optional<Reply> decode_reply(std::string_view text, Op op, std::string* why) {
  std::string scratch;
  if (!why) why = &scratch;
  Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return *why = "reply is not a JSON object", std::nullopt;
  auto ok = j.find("ok");
  if (ok == j.end() || !ok->is_boolean()) return *why = "reply has no 'ok'", std::nullopt;
  Reply r;
  if (!ok->get<bool>()) {
    auto e = j.find("errno");
    r.err = (e != j.end() && e->is_number_integer() && e->get<int64_t>() > 0 &&
             e->get<int64_t>() < 4096) ? int(e->get<int64_t>()) : EIO;
    (void)get_str(j, "message", kMaxMessage, r.message, why);
    return r;
  }
  if (!decode_reply_fields(j, op, r, why)) return std::nullopt;
  return r;
}

bool send_message(int fd, const std::string& body, bool nonblocking, int* err) {
  if (body.size() > kMaxMessage) return *err = EMSGSIZE, false;
  const int flags = MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0);
  for (;;) {
    ssize_t n = ::send(fd, body.data(), body.size(), flags);
    if (n == ssize_t(body.size())) return true;
    if (n < 0 && errno == EINTR) continue;
    *err = n < 0 ? errno : EIO;
    return false;
  }
}

std::optional<std::string> recv_message(int fd, int* err) {
  std::string buf(kMaxMessage + 1, '\0');
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return *err = errno, std::nullopt;
    if (n == 0) return *err = 0, std::nullopt;
    if (std::size_t(n) > kMaxMessage) return *err = EMSGSIZE, std::nullopt;
    buf.resize(std::size_t(n));
    return buf;
  }
}

} // namespace famfs::proto::control

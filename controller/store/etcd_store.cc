#include "controller/store/etcd_store.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace braid::controller {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using json = nlohmann::json;

// The largest answer read: a range of one value of kMaxStoreValueBytes, in
// base64, with its JSON around it.
constexpr size_t kMaxAnswerBytes = kMaxStoreValueBytes / 3 * 4 + (size_t{1} << 20);

// gRPC status codes that etcd's gateway passes on, for which another member
// may do better: UNAVAILABLE (no leader, leader changed) and
// DEADLINE_EXCEEDED.
constexpr int kGrpcDeadlineExceeded = 4;
constexpr int kGrpcUnavailable = 14;

std::string B64(std::string_view bytes) { return absl::Base64Escape(absl::string_view(bytes.data(), bytes.size())); }

// PrefixEnd is the range_end that makes a range read cover every key that
// starts with `prefix` (etcd's convention: the prefix with its last byte
// below 0xff incremented, what follows it dropped).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last < 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

// Absent: a txn compare that holds when no key in [key, range_end) exists
// (range_end empty: the one key).
json Absent(const std::string& key, const std::string& range_end = "") {
  json c = {{"key", B64(key)}, {"result", "EQUAL"}, {"target", "CREATE"}, {"create_revision", "0"}};
  if (!range_end.empty()) c["range_end"] = B64(range_end);
  return c;
}

struct Answer {
  unsigned status = 0;
  std::string body;
};

// Post sends one HTTP/1.1 POST and reads the answer, all within `timeout`.
absl::StatusOr<Answer> Post(const EtcdEndpoint& to, std::string_view path, std::string body,
                            std::chrono::milliseconds timeout) {
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(to.host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat(to.host, " is not an IP address"));
  asio::io_context io;
  beast::tcp_stream stream(io);
  http::request<http::string_body> request{http::verb::post, std::string(path), 11};
  request.set(http::field::host, to.ToString());
  request.set(http::field::content_type, "application/json");
  request.body() = std::move(body);
  request.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxAnswerBytes);
  boost::system::error_code result;
  // One deadline for the whole exchange: the stream's timer is not reset
  // as each step completes.
  stream.expires_after(timeout);
  stream.async_connect(asio::ip::tcp::endpoint(address, to.port), [&](boost::system::error_code e) {
    if (e) {
      result = e;
      return;
    }
    http::async_write(stream, request, [&](boost::system::error_code written, size_t) {
      if (written) {
        result = written;
        return;
      }
      http::async_read(stream, buffer, parser, [&](boost::system::error_code read, size_t) { result = read; });
    });
  });
  io.run();
  if (result == beast::error::timeout) {
    return absl::DeadlineExceededError(absl::StrCat("no answer within ", timeout.count(), " ms"));
  }
  if (result) return absl::UnavailableError(result.message());
  return Answer{parser.get().result_int(), std::move(parser.get().body())};
}

absl::StatusOr<std::string> DecodeB64(const json& value, const char* what) {
  std::string out;
  if (!value.is_string() || !absl::Base64Unescape(value.get<std::string>(), &out)) {
    return absl::DataLossError(absl::StrCat("etcd answered a ", what, " that is not base64"));
  }
  return out;
}

// ValueOf decodes a range answer's value ("" for a keys-only read, and for
// an empty value, which the gateway leaves out).
absl::StatusOr<std::string> ValueOf(const json& kv) {
  return kv.contains("value") ? DecodeB64(kv["value"], "value") : std::string();
}

}  // namespace

std::string EtcdEndpoint::ToString() const {
  return host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port) : absl::StrCat(host, ":", port);
}

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Open(EtcdOptions options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("etcd: no endpoint");
  for (const EtcdEndpoint& e : options.endpoints) {
    boost::system::error_code ec;
    const asio::ip::address address = asio::ip::make_address(e.host, ec);
    if (ec || !address.is_loopback() || e.port == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd: endpoint ", e.ToString(), " is not a loopback address and port (plain HTTP carries the state)"));
    }
  }
  if (options.prefix.empty() || options.prefix.back() != '/' ||
      !ValidateStoreKey(options.prefix.substr(0, options.prefix.size() - 1)).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd: prefix \"", options.prefix, "\" is not key segments ending with '/'"));
  }
  if (options.timeout.count() <= 0) return absl::InvalidArgumentError("etcd: the timeout must be positive");
  std::unique_ptr<EtcdStore> store(new EtcdStore(std::move(options)));
  const std::string space = store->options_.prefix;
  absl::StatusOr<json> answer = store->Call(
      "/v3/kv/range", {{"key", B64(space)}, {"range_end", B64(PrefixEnd(space))}, {"keys_only", true}, {"limit", 1}});
  if (!answer.ok()) return answer.status();
  return store;
}

std::string EtcdStore::Describe() const {
  std::vector<std::string> members;
  for (const EtcdEndpoint& e : options_.endpoints) members.push_back(e.ToString());
  return absl::StrCat("etcd ", absl::StrJoin(members, ","), " under ", options_.prefix);
}

absl::StatusOr<json> EtcdStore::Call(std::string_view path, const json& body) {
  const std::string text = body.dump();
  std::vector<std::string> failures;
  const size_t first = preferred_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < options_.endpoints.size(); ++i) {
    const size_t at = (first + i) % options_.endpoints.size();
    const EtcdEndpoint& member = options_.endpoints[at];
    absl::StatusOr<Answer> answer = Post(member, path, text, options_.timeout);
    if (!answer.ok()) {
      failures.push_back(absl::StrCat(member.ToString(), ": ", answer.status().message()));
      continue;
    }
    json parsed = json::parse(answer->body, nullptr, false);
    if (answer->status == 200 && parsed.is_object()) {
      preferred_.store(at, std::memory_order_relaxed);
      return parsed;
    }
    const std::string said = parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()
                                 ? parsed["message"].get<std::string>()
                                 : answer->body.substr(0, 200);
    const int code = parsed.is_object() ? parsed.value("code", 0) : 0;
    if (said.find("request is too large") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd ", member.ToString(), " refused the request as too large (", said,
                       "): start etcd with --max-request-bytes of at least 32 MiB"));
    }
    if (code == kGrpcUnavailable || code == kGrpcDeadlineExceeded) {
      failures.push_back(absl::StrCat(member.ToString(), ": ", said));
      continue;
    }
    return absl::InternalError(
        absl::StrCat("etcd ", member.ToString(), " answered ", std::string(path), " with HTTP ", answer->status, ": ",
                     said));
  }
  return absl::UnavailableError(absl::StrCat("etcd: no member answered: ", absl::StrJoin(failures, "; ")));
}

absl::StatusOr<uint64_t> EtcdStore::Revision() {
  absl::StatusOr<json> answer = Call("/v3/kv/range", {{"key", B64(options_.prefix)}, {"count_only", true}});
  if (!answer.ok()) return answer.status();
  // int64 fields come as strings.
  const json& header = (*answer)["header"];
  const std::string revision = header.is_object() ? header.value("revision", std::string()) : std::string();
  uint64_t value = 0;
  if (revision.empty() || !absl::SimpleAtoi(revision, &value)) {
    return absl::DataLossError("etcd answered a range without a revision");
  }
  return value;
}

absl::StatusOr<std::string> EtcdStore::Get(std::string_view key_view) {
  const std::string key(key_view);
  if (absl::Status s = ValidateStoreKey(key); !s.ok()) return s;
  absl::StatusOr<json> answer = Call("/v3/kv/range", {{"key", B64(Full(key))}});
  if (!answer.ok()) return answer.status();
  const json& kvs = (*answer)["kvs"];
  if (!kvs.is_array() || kvs.empty()) return absl::NotFoundError(absl::StrCat(key, ": no such key"));
  return ValueOf(kvs[0]);
}

absl::Status EtcdStore::Put(std::string_view key, std::string_view value) { return Write(key, value, false); }

absl::Status EtcdStore::Create(std::string_view key, std::string_view value) { return Write(key, value, true); }

absl::Status EtcdStore::Write(std::string_view key_view, std::string_view value, bool create) {
  const std::string key(key_view);
  if (absl::Status s = ValidateStoreKey(key); !s.ok()) return s;
  if (value.size() > kMaxStoreValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": value of ", value.size(), " bytes is over the limit of ", kMaxStoreValueBytes));
  }
  // Every condition in one transaction: no ancestor segment is a key, no
  // key lies below this one, and (Create) the key itself does not exist.
  json compare = json::array();
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] == '/') compare.push_back(Absent(Full(key.substr(0, i))));
  }
  // '0' follows '/' in ASCII: [key/, key0) holds exactly the keys below.
  compare.push_back(Absent(Full(key) + "/", Full(key) + "0"));
  if (create) compare.push_back(Absent(Full(key)));
  const json put = {{"request_put", {{"key", B64(Full(key))}, {"value", B64(value)}}}};
  absl::StatusOr<json> answer = Call("/v3/kv/txn", {{"compare", compare}, {"success", json::array({put})}});
  if (!answer.ok()) return answer.status();
  // The gateway leaves out a false "succeeded".
  if (answer->value("succeeded", false)) return absl::OkStatus();
  if (create) {
    absl::StatusOr<std::string> existing = Get(key);
    if (existing.ok()) return absl::AlreadyExistsError(absl::StrCat(key, ": already exists"));
  }
  absl::StatusOr<std::string> clash = Clash(key);
  if (!clash.ok()) return clash.status();
  if (clash->empty()) {
    return absl::AbortedError(absl::StrCat(key, ": changed by another writer while being written; try again"));
  }
  return absl::FailedPreconditionError(absl::StrCat(key, ": clashes with the stored key ", *clash,
                                                    " (a key cannot be a prefix of another)"));
}

absl::Status EtcdStore::Swap(std::string_view key_view, std::string_view expected, std::string_view value) {
  const std::string key(key_view);
  if (absl::Status s = ValidateStoreKey(key); !s.ok()) return s;
  if (value.size() > kMaxStoreValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": value of ", value.size(), " bytes is over the limit of ", kMaxStoreValueBytes));
  }
  // A key that exists already passed the clash checks when it was created,
  // and nothing can be created above or below it since.
  const json compare = {{"key", B64(Full(key))}, {"result", "EQUAL"}, {"target", "VALUE"}, {"value", B64(expected)}};
  const json put = {{"request_put", {{"key", B64(Full(key))}, {"value", B64(value)}}}};
  absl::StatusOr<json> answer =
      Call("/v3/kv/txn", {{"compare", json::array({compare})}, {"success", json::array({put})}});
  if (!answer.ok()) return answer.status();
  if (answer->value("succeeded", false)) return absl::OkStatus();
  absl::StatusOr<std::string> now = Get(key);
  if (!now.ok()) return now.status();  // NotFound: it was deleted
  return absl::AbortedError(absl::StrCat(key, ": changed since it was read"));
}

absl::StatusOr<std::string> EtcdStore::Clash(const std::string& key) {
  for (size_t i = 0; i < key.size(); ++i) {
    if (key[i] != '/') continue;
    absl::StatusOr<std::string> above = Get(key.substr(0, i));
    if (above.ok()) return key.substr(0, i);
    if (!absl::IsNotFound(above.status())) return above.status();
  }
  absl::StatusOr<json> below = Call(
      "/v3/kv/range",
      {{"key", B64(Full(key) + "/")}, {"range_end", B64(Full(key) + "0")}, {"keys_only", true}, {"limit", 1}});
  if (!below.ok()) return below.status();
  const json& kvs = (*below)["kvs"];
  if (!kvs.is_array() || kvs.empty()) return std::string();
  absl::StatusOr<std::string> full = DecodeB64(kvs[0]["key"], "key");
  if (!full.ok()) return full.status();
  return full->substr(options_.prefix.size());
}

absl::Status EtcdStore::Delete(std::string_view key_view) {
  const std::string key(key_view);
  if (absl::Status s = ValidateStoreKey(key); !s.ok()) return s;
  absl::StatusOr<json> answer = Call("/v3/kv/deleterange", {{"key", B64(Full(key))}});
  if (!answer.ok()) return answer.status();
  // "deleted" is a string, and left out when 0.
  if (answer->value("deleted", std::string("0")) == "0") {
    return absl::NotFoundError(absl::StrCat(key, ": no such key"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> EtcdStore::Range(std::string_view prefix,
                                                                                  bool keys_only) {
  if (absl::Status s = ValidateStoreKeyPrefix(prefix); !s.ok()) return s;
  const std::string from = Full(prefix);
  json request = {{"key", B64(from)}, {"range_end", B64(PrefixEnd(from))}, {"sort_order", "ASCEND"}};
  if (keys_only) request["keys_only"] = true;
  absl::StatusOr<json> answer = Call("/v3/kv/range", request);
  if (!answer.ok()) return answer.status();
  std::vector<std::pair<std::string, std::string>> out;
  const json& kvs = (*answer)["kvs"];
  if (!kvs.is_array()) return out;
  out.reserve(kvs.size());
  for (const json& kv : kvs) {
    absl::StatusOr<std::string> full = DecodeB64(kv.value("key", json()), "key");
    if (!full.ok()) return full.status();
    absl::StatusOr<std::string> value = ValueOf(kv);
    if (!value.ok()) return value.status();
    out.emplace_back(full->substr(options_.prefix.size()), *std::move(value));
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> EtcdStore::Scan(std::string_view prefix) {
  return Range(prefix, /*keys_only=*/false);
}

absl::StatusOr<std::vector<std::string>> EtcdStore::List(std::string_view prefix) {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> range = Range(prefix, /*keys_only=*/true);
  if (!range.ok()) return range.status();
  std::vector<std::string> keys;
  keys.reserve(range->size());
  for (auto& [key, value] : *range) keys.push_back(std::move(key));
  return keys;
}

}  // namespace braid::controller

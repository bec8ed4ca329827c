#include "store/s3_object_store.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <optional>
#include <thread>

#include "core/hash.h"

namespace concierge {

namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

constexpr char kEmptyBody[] = "";

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return s;
}

// Trims the value and collapses inner runs of spaces, per SigV4.
std::string CanonicalHeaderValue(std::string_view value) {
  std::string out;
  bool space = false;
  for (const char c : value) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string CanonicalQuery(const Pairs& query) {
  Pairs encoded;
  for (const auto& [name, value] : query)
    encoded.emplace_back(UriEncode(name, true), UriEncode(value, true));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

std::string AmzDateNow() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Text content with the five predefined entities and character references
// decoded; nullopt for an unknown or malformed reference.
std::optional<std::string> DecodeXmlText(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '&') {
      out += text[i++];
      continue;
    }
    const size_t semi = text.find(';', i);
    if (semi == std::string_view::npos) return std::nullopt;
    const std::string_view name = text.substr(i + 1, semi - i - 1);
    i = semi + 1;
    if (name == "amp") out += '&';
    else if (name == "lt") out += '<';
    else if (name == "gt") out += '>';
    else if (name == "quot") out += '"';
    else if (name == "apos") out += '\'';
    else if (name.size() >= 2 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      const std::string_view digits = name.substr(hex ? 2 : 1);
      if (digits.empty() || digits.size() > 8) return std::nullopt;
      uint32_t cp = 0;
      for (const char c : digits) {
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return std::nullopt;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
      }
      if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
      AppendUtf8(out, cp);
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// The raw contents of each <tag>...</tag> in `xml` (no attributes on S3's
// elements), in document order.
std::vector<std::string_view> Elements(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  std::vector<std::string_view> out;
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string_view::npos) {
    const size_t start = pos + open.size();
    const size_t end = xml.find(close, start);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(start, end - start));
    pos = end + close.size();
  }
  return out;
}

// The decoded text of the first <tag>, or "" when absent.
std::string FirstText(std::string_view xml, std::string_view tag) {
  const auto found = Elements(xml, tag);
  if (found.empty()) return "";
  return DecodeXmlText(found.front()).value_or(std::string(found.front()));
}

size_t WriteToString(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// Transport failures worth another attempt: the server may be restarting.
bool RetryableCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return true;
    default: return false;
  }
}

bool ValidBucketName(const std::string& name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (const char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  const auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return alnum(name.front()) && alnum(name.back());
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace

std::string UriEncode(std::string_view text, bool encode_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (c == '/' && !encode_slash)) {
      out += ch;
    } else {
      out += '%';
      out += kDigits[c >> 4];
      out += kDigits[c & 0xf];
    }
  }
  return out;
}

SigV4Signature SignV4(const SigV4Request& r) {
  Pairs headers;
  for (const auto& [name, value] : r.headers)
    headers.emplace_back(Lower(name), CanonicalHeaderValue(value));
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }

  SigV4Signature out;
  out.canonical_request = r.method + "\n" + r.path + "\n" + CanonicalQuery(r.query) + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + r.payload_sha256;
  const std::string date = r.amz_date.substr(0, 8);
  const std::string scope = date + "/" + r.region + "/" + r.service + "/aws4_request";
  out.string_to_sign = "AWS4-HMAC-SHA256\n" + r.amz_date + "\n" + scope + "\n" +
                       Sha256Hex(out.canonical_request);
  const std::string k_date = HmacSha256("AWS4" + r.secret_key, date);
  const std::string k_region = HmacSha256(k_date, r.region);
  const std::string k_service = HmacSha256(k_region, r.service);
  const std::string k_signing = HmacSha256(k_service, "aws4_request");
  const std::string mac = HmacSha256(k_signing, out.string_to_sign);
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + r.access_key + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" +
                      Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  return out;
}

Result<ListObjectsPage> ParseListObjectsV2(std::string_view xml) {
  if (xml.find("<ListBucketResult") == std::string_view::npos)
    return Status::Internal("S3 listing is not a ListBucketResult document");
  ListObjectsPage page;
  for (const std::string_view contents : Elements(xml, "Contents")) {
    const auto keys = Elements(contents, "Key");
    if (keys.empty()) return Status::Internal("S3 listing has an entry without a <Key>");
    std::optional<std::string> key = DecodeXmlText(keys.front());
    if (!key) return Status::Internal("S3 listing has a malformed key");
    page.keys.push_back(std::move(*key));
  }
  page.truncated = FirstText(xml, "IsTruncated") == "true";
  if (page.truncated) {
    const auto tokens = Elements(xml, "NextContinuationToken");
    std::optional<std::string> token;
    if (!tokens.empty()) token = DecodeXmlText(tokens.front());
    if (!token || token->empty())
      return Status::Internal("S3 listing is truncated but has no NextContinuationToken");
    page.next_continuation_token = std::move(*token);
  }
  return page;
}

struct S3ObjectStore::Response {
  long status = 0;          // HTTP status; 0 when the transport failed
  std::string body;
  CURLcode transport = CURLE_OK;
  std::string transport_error;
};

struct S3ObjectStore::Call {
  std::string method;  // GET, HEAD, PUT or DELETE
  std::string key;     // empty: the bucket itself
  Pairs query;
  Pairs headers;       // extra x-amz-* headers; all are signed
  std::string_view body;
};

S3ObjectStore::S3ObjectStore(const ObjectStoreConfig& config, const S3Options& options,
                             std::string base_url, std::string host, std::string base_path)
    : config_(config),
      options_(options),
      base_url_(std::move(base_url)),
      host_(std::move(host)),
      base_path_(std::move(base_path)) {}

S3ObjectStore::~S3ObjectStore() {
  for (void* handle : idle_handles_) curl_easy_cleanup(static_cast<CURL*>(handle));
}

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Open(const ObjectStoreConfig& config,
                                                           const S3Options& options) {
  const std::string& endpoint = config.s3_endpoint;
  const size_t scheme_end = endpoint.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : endpoint.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https")
    return Status::InvalidArgument("s3_endpoint " + Quoted(endpoint) +
                                   " must start with http:// or https://");
  const size_t host_start = scheme_end + 3;
  const size_t path_start = std::min(endpoint.find('/', host_start), endpoint.size());
  const std::string host = endpoint.substr(host_start, path_start - host_start);
  std::string base_path = endpoint.substr(path_start);
  while (!base_path.empty() && base_path.back() == '/') base_path.pop_back();
  if (host.empty() || host.find_first_of("@?#") != std::string::npos ||
      UriEncode(base_path, false) != base_path)
    return Status::InvalidArgument("s3_endpoint " + Quoted(endpoint) +
                                   " must be scheme://host[:port][/path] with a plain path and "
                                   "no user, query or fragment");
  if (!ValidBucketName(config.s3_bucket))
    return Status::InvalidArgument("s3_bucket " + Quoted(config.s3_bucket) +
                                   " is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')");
  if (config.s3_region.empty()) return Status::InvalidArgument("s3_region is empty");
  if (config.s3_access_key.empty() || config.s3_secret_key.empty())
    return Status::InvalidArgument("s3_access_key and s3_secret_key must both be set");
  if (options.max_attempts < 1 || options.list_page_size < 1)
    return Status::InvalidArgument("S3 options need max_attempts and list_page_size >= 1");

  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  std::unique_ptr<S3ObjectStore> store(new S3ObjectStore(
      config, options, scheme + "://" + host, host, std::move(base_path)));
  RETURN_IF_ERROR(store->EnsureBucket());
  return store;
}

void* S3ObjectStore::TakeHandle() {
  {
    std::lock_guard<std::mutex> lock(handles_mu_);
    if (!idle_handles_.empty()) {
      void* handle = idle_handles_.back();
      idle_handles_.pop_back();
      curl_easy_reset(static_cast<CURL*>(handle));
      return handle;
    }
  }
  return curl_easy_init();
}

void S3ObjectStore::ReturnHandle(void* handle) {
  std::lock_guard<std::mutex> lock(handles_mu_);
  idle_handles_.push_back(handle);
}

std::string S3ObjectStore::PathOf(const std::string& key) const {
  return base_path_ + "/" + config_.s3_bucket + (key.empty() ? "" : "/" + UriEncode(key, false));
}

Result<S3ObjectStore::Response> S3ObjectStore::SendOnce(const Call& call) {
  SigV4Request req;
  req.method = call.method;
  req.path = PathOf(call.key);
  req.query = call.query;
  req.payload_sha256 = Sha256Hex(call.body);
  req.amz_date = AmzDateNow();
  req.region = config_.s3_region;
  req.service = "s3";
  req.access_key = config_.s3_access_key;
  req.secret_key = config_.s3_secret_key;
  req.headers = {{"host", host_},
                 {"x-amz-content-sha256", req.payload_sha256},
                 {"x-amz-date", req.amz_date}};
  req.headers.insert(req.headers.end(), call.headers.begin(), call.headers.end());
  const SigV4Signature signature = SignV4(req);

  std::string url = base_url_ + req.path;
  if (!call.query.empty()) {
    char sep = '?';
    for (const auto& [name, value] : call.query) {
      url += sep + UriEncode(name, true) + "=" + UriEncode(value, true);
      sep = '&';
    }
  }
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : req.headers)
    headers = curl_slist_append(headers, (name + ": " + value).c_str());
  headers = curl_slist_append(headers, ("Authorization: " + signature.authorization).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  if (call.method == "PUT")
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");

  CURL* curl = static_cast<CURL*>(TakeHandle());
  if (curl == nullptr) {
    curl_slist_free_all(headers);
    return Status::Internal("cannot create a curl handle");
  }
  Response response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM, safe in threads
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options_.request_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  if (call.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (call.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, call.body.empty() ? kEmptyBody : call.body.data());
  } else if (call.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, call.method.c_str());
  }
  response.transport = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  // Forget the stack buffers before the handle goes back to the pool.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  ReturnHandle(curl);
  curl_slist_free_all(headers);
  if (response.transport != CURLE_OK)
    response.transport_error = error[0] != '\0' ? error : curl_easy_strerror(response.transport);
  return response;
}

Result<S3ObjectStore::Response> S3ObjectStore::Send(const Call& call) {
  int backoff_ms = options_.first_backoff_ms;
  for (int attempt = 1;; ++attempt) {
    ASSIGN_OR_RETURN(Response r, SendOnce(call));
    const bool failed = r.transport != CURLE_OK;
    const bool retry = failed ? RetryableCurlError(r.transport) : r.status >= 500;
    if (retry && attempt < options_.max_attempts) {
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms *= 2;
      continue;
    }
    if (failed)
      return Status::Unavailable("S3 server " + base_url_ + " unreachable after " +
                                 std::to_string(attempt) + " attempt(s): " + r.transport_error);
    return r;
  }
}

Status S3ObjectStore::ErrorOf(const Response& response, const std::string& what) const {
  const std::string code = FirstText(response.body, "Code");
  std::string detail = "HTTP " + std::to_string(response.status);
  if (!code.empty()) detail += " " + code;
  const std::string message = FirstText(response.body, "Message");
  if (!message.empty()) detail += ": " + message;
  const std::string where = " (bucket " + Quoted(config_.s3_bucket) + " at " + base_url_ + ")";
  if (response.status == 404 && code == "NoSuchBucket")
    return Status::NotFound(what + ": bucket " + Quoted(config_.s3_bucket) + " does not exist at " +
                            base_url_);
  if (response.status == 404) return Status::NotFound(what + ": not found" + where);
  if (response.status == 403 || response.status == 401)
    return Status::PermissionDenied(what + " refused: " + detail + where +
                                    "; check s3_access_key, s3_secret_key and the bucket policy");
  if (response.status >= 500) return Status::Unavailable(what + " failed: " + detail + where);
  return Status::IoError(what + " failed: " + detail + where);
}

Status S3ObjectStore::EnsureBucket() {
  // A one-key listing rather than HEAD: its error answers carry an S3 error code.
  const Call probe{"GET", "", {{"list-type", "2"}, {"max-keys", "1"}}, {}, {}};
  ASSIGN_OR_RETURN(Response found, Send(probe));
  if (found.status == 200) return Status::Ok();
  if (found.status != 404) return ErrorOf(found, "checking bucket " + Quoted(config_.s3_bucket));
  // us-east-1 is S3's default location and must not be named in the request.
  const std::string body =
      config_.s3_region == "us-east-1"
          ? ""
          : "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<LocationConstraint>" + config_.s3_region +
            "</LocationConstraint></CreateBucketConfiguration>";
  ASSIGN_OR_RETURN(Response put, Send({"PUT", "", {}, {}, body}));
  if (put.status == 200) return Status::Ok();
  if (put.status == 409) {
    // Someone created it meanwhile (BucketAlreadyOwnedByYou, or BucketAlreadyExists
    // on servers that say so to the owner too): fine if we can reach it now.
    ASSIGN_OR_RETURN(Response again, Send(probe));
    if (again.status == 200) return Status::Ok();
  }
  return ErrorOf(put, "creating bucket " + Quoted(config_.s3_bucket));
}

Status S3ObjectStore::Put(const std::string& key, std::string_view bytes) {
  RETURN_IF_ERROR(ValidateObjectKey(key));
  ASSIGN_OR_RETURN(Response r, Send({"PUT", key, {}, {}, bytes}));
  if (r.status == 200) return Status::Ok();
  return ErrorOf(r, "writing object " + Quoted(key));
}

Result<std::string> S3ObjectStore::Get(const std::string& key) {
  RETURN_IF_ERROR(ValidateObjectKey(key));
  ASSIGN_OR_RETURN(Response r, Send({"GET", key, {}, {}, {}}));
  if (r.status == 200) return std::move(r.body);
  return ErrorOf(r, "object " + Quoted(key));
}

Status S3ObjectStore::Delete(const std::string& key) {
  RETURN_IF_ERROR(ValidateObjectKey(key));
  ASSIGN_OR_RETURN(Response r, Send({"DELETE", key, {}, {}, {}}));
  if (r.status == 204 || r.status == 200) return Status::Ok();
  // S3 answers 204 for an absent key; some servers say 404 NoSuchKey instead.
  if (r.status == 404 && FirstText(r.body, "Code") != "NoSuchBucket") return Status::Ok();
  return ErrorOf(r, "deleting object " + Quoted(key));
}

Status S3ObjectStore::Move(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(ValidateObjectKey(from));
  RETURN_IF_ERROR(ValidateObjectKey(to));
  if (from == to) {
    // S3 refuses a copy onto itself, and the delete would lose the object.
    ASSIGN_OR_RETURN(const bool exists, Exists(from));
    return exists ? Status::Ok() : Status::NotFound("object " + Quoted(from) + " not found");
  }
  const std::string source = "/" + config_.s3_bucket + "/" + UriEncode(from, false);
  ASSIGN_OR_RETURN(Response r, Send({"PUT", to, {}, {{"x-amz-copy-source", source}}, {}}));
  const std::string what = "copying object " + Quoted(from) + " to " + Quoted(to);
  if (r.status == 404) return ErrorOf(r, "object " + Quoted(from));
  if (r.status != 200) return ErrorOf(r, what);
  // A copy can fail after S3 has sent 200; the error is then in the body.
  if (r.body.find("<Error>") != std::string::npos) {
    r.status = 500;
    return ErrorOf(r, what);
  }
  return Delete(from);
}

Result<bool> S3ObjectStore::Exists(const std::string& key) {
  RETURN_IF_ERROR(ValidateObjectKey(key));
  ASSIGN_OR_RETURN(Response r, Send({"HEAD", key, {}, {}, {}}));
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return ErrorOf(r, "checking object " + Quoted(key));
}

Result<std::vector<std::string>> S3ObjectStore::List(const std::string& prefix) {
  RETURN_IF_ERROR(ValidateObjectPrefix(prefix));
  std::vector<std::string> keys;
  std::string token;
  while (true) {
    Call call{"GET", "", {{"list-type", "2"},
                          {"max-keys", std::to_string(options_.list_page_size)},
                          {"prefix", prefix}},
              {}, {}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    ASSIGN_OR_RETURN(Response r, Send(call));
    if (r.status != 200) return ErrorOf(r, "listing objects under " + Quoted(prefix));
    ASSIGN_OR_RETURN(ListObjectsPage page, ParseListObjectsV2(r.body));
    for (std::string& key : page.keys) {
      // Objects other tools wrote may have keys this store cannot name; hide them.
      if (key.compare(0, prefix.size(), prefix) == 0 && ValidateObjectKey(key).ok())
        keys.push_back(std::move(key));
    }
    if (!page.truncated) break;
    if (page.next_continuation_token == token)
      return Status::Internal("S3 listing under " + Quoted(prefix) + " repeats its page");
    token = std::move(page.next_continuation_token);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

}  // namespace concierge

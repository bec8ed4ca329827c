// S3-compatible backend of the ObjectStore (AWS S3, MinIO, Ceph RGW): key a/b.jpg
// is the object <endpoint>/<bucket>/a/b.jpg (path-style URLs), signed with AWS
// Signature Version 4 over libcurl. Also exposes the signer and the listing
// parser so they can be checked against published vectors.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "store/object_store.h"

namespace concierge {

// One request to sign. Header names may have any case; values are trimmed and
// inner runs of spaces collapsed, as SigV4 canonicalisation demands. Every
// header given is signed, so pass exactly those the request will carry.
struct SigV4Request {
  std::string method;                                       // "GET", "PUT", ...
  std::string path;                                         // already URI-encoded, e.g. "/b/a.jpg"
  std::vector<std::pair<std::string, std::string>> query;   // raw (unencoded) names and values
  std::vector<std::pair<std::string, std::string>> headers; // must include host and x-amz-date
  std::string payload_sha256;                               // lower-case hex
  std::string amz_date;                                     // YYYYMMDDTHHMMSSZ
  std::string region;
  std::string service;                                      // "s3"
  std::string access_key;
  std::string secret_key;
};

// The intermediate strings are returned so tests can say which step is wrong.
struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string authorization;  // the Authorization header value; a credential, never log it
};

// Needs a complete request (amz_date at least 8 chars). Guarantees the AWS
// SigV4 "AWS4-HMAC-SHA256" signature of exactly that request.
SigV4Signature SignV4(const SigV4Request& request);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters stay,
// everything else becomes %XX (upper-case hex); '/' stays unless `encode_slash`.
std::string UriEncode(std::string_view text, bool encode_slash);

// One page of a ListObjectsV2 answer.
struct ListObjectsPage {
  std::vector<std::string> keys;       // entity-decoded <Contents><Key> values, in answer order
  bool truncated = false;
  std::string next_continuation_token;  // entity-decoded; set when truncated
};

// Needs the body of a ListObjectsV2 answer. Guarantees its keys with XML
// entities (&amp; &#65; &#x41; ...) decoded; kInternal when the document is not
// a ListBucketResult or is truncated without a continuation token.
Result<ListObjectsPage> ParseListObjectsV2(std::string_view xml);

// Tuning that config files do not need; tests shorten the timeouts and pages.
struct S3Options {
  long connect_timeout_ms = 3000;
  long request_timeout_ms = 60000;  // whole request; a 30 MB picture fits easily
  int max_attempts = 3;             // for 5xx answers and failed connections
  int first_backoff_ms = 100;       // doubles after each failed attempt
  int list_page_size = 1000;        // max-keys; S3's own maximum
};

// Errors: kInvalidArgument (bad key or config, before any request), kNotFound,
// kPermissionDenied (403: wrong keys or missing rights), kUnavailable (server
// unreachable, timed out, or answering 5xx after retries), kIoError (any other
// refusal, naming the S3 error code). Messages name endpoint, bucket and key,
// never the secret key or the Authorization header.
//
// Move is CopyObject then DeleteObject: a crash between them leaves both
// objects, never neither. Thread-safe; idle connections are pooled and reused.
class S3ObjectStore : public ObjectStore {
 public:
  // Needs config.s3_endpoint (http:// or https://, optional path prefix), a
  // valid bucket name, region and both keys. Creates the bucket if it is
  // missing (an existing bucket of ours is fine). Guarantees a store that has
  // reached the server once.
  static Result<std::unique_ptr<S3ObjectStore>> Open(const ObjectStoreConfig& config,
                                                     const S3Options& options = {});
  ~S3ObjectStore() override;
  S3ObjectStore(const S3ObjectStore&) = delete;
  S3ObjectStore& operator=(const S3ObjectStore&) = delete;

  Status Put(const std::string& key, std::string_view bytes) override;
  Result<std::string> Get(const std::string& key) override;
  Status Delete(const std::string& key) override;
  Status Move(const std::string& from, const std::string& to) override;
  Result<bool> Exists(const std::string& key) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;

 private:
  struct Response;
  struct Call;

  S3ObjectStore(const ObjectStoreConfig& config, const S3Options& options, std::string base_url,
                std::string host, std::string base_path);
  // Creates the bucket unless a listing finds it.
  Status EnsureBucket();
  // Sends `call`, retrying failed connections and 5xx answers with backoff.
  Result<Response> Send(const Call& call);
  // One attempt; a transport failure is reported in the Response, not as an error.
  Result<Response> SendOnce(const Call& call);
  // The URI-encoded path of `key` (empty: the bucket itself).
  std::string PathOf(const std::string& key) const;
  // A Status for an answer the caller did not expect; `what` names the operation.
  Status ErrorOf(const Response& response, const std::string& what) const;

  // curl easy handles kept for reuse so connections stay open between calls.
  void* TakeHandle();
  void ReturnHandle(void* handle);

  ObjectStoreConfig config_;
  S3Options options_;
  std::string base_url_;   // scheme://authority
  std::string host_;       // authority, signed as the Host header
  std::string base_path_;  // "" or "/prefix", already encoded
  std::mutex handles_mu_;
  std::vector<void*> idle_handles_;
};

}  // namespace concierge

// S3ObjectStore: the SigV4 signer against AWS's published vectors (s3rver does
// not check signatures), the listing parser, and the store itself against a
// real s3rver on 127.0.0.1, plus a tiny HTTP server that answers 5xx on demand.
// The contract it shares with the filesystem store is store_objects_test.cc.
#include "store/s3_object_store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "core/hash.h"
#include "support/object_keys.h"
#include "support/s3_fixture.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::S3rverServer;
using Keys = std::vector<std::string>;

constexpr char kEmptySha256[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// The signature hex at the end of an Authorization header value.
std::string SignatureOf(const std::string& authorization) {
  const size_t at = authorization.rfind("Signature=");
  return at == std::string::npos ? "" : authorization.substr(at + 10);
}

// AWS SigV4 test suite, get-vanilla-query-order-key-case, verbatim.
TEST(SigV4, SuiteVectorGetVanillaQueryOrderKeyCase) {
  // Designated initialisers, not assignments: GCC 12 misreports short string assignments.
  const SigV4Request req{
      .method = "GET",
      .path = "/",
      .query = {{"Param2", "value2"}, {"Param1", "value1"}},
      .headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
      .payload_sha256 = kEmptySha256,
      .amz_date = "20150830T123600Z",
      .region = "us-east-1",
      .service = "service",
      .access_key = "AKIDEXAMPLE",
      .secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  };
  const SigV4Signature sig = SignV4(req);
  EXPECT_EQ(sig.canonical_request,
            "GET\n"
            "/\n"
            "Param1=value1&Param2=value2\n"
            "host:example.amazonaws.com\n"
            "x-amz-date:20150830T123600Z\n"
            "\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n"
            "20150830T123600Z\n"
            "20150830/us-east-1/service/aws4_request\n"
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

// The S3 API reference's header-based auth examples (examplebucket, 2013-05-24).
SigV4Request S3Example(std::string path, std::vector<std::pair<std::string, std::string>> query,
                       std::string range) {
  SigV4Request req{
      .method = "GET",
      .path = std::move(path),
      .query = std::move(query),
      .headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                  {"x-amz-content-sha256", kEmptySha256},
                  {"x-amz-date", "20130524T000000Z"}},
      .payload_sha256 = kEmptySha256,
      .amz_date = "20130524T000000Z",
      .region = "us-east-1",
      .service = "s3",
      .access_key = "AKIAIOSFODNN7EXAMPLE",
      .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  };
  if (!range.empty()) req.headers.emplace_back("Range", std::move(range));
  return req;
}

TEST(SigV4, S3VectorGetObjectWithRange) {
  const SigV4Signature sig = SignV4(S3Example("/test.txt", {}, "bytes=0-9"));
  EXPECT_EQ(sig.canonical_request,
            "GET\n"
            "/test.txt\n"
            "\n"
            "host:examplebucket.s3.amazonaws.com\n"
            "range:bytes=0-9\n"
            "x-amz-content-sha256:"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n"
            "\n"
            "host;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sig.string_to_sign,
            "AWS4-HMAC-SHA256\n"
            "20130524T000000Z\n"
            "20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(SignatureOf(sig.authorization),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_PRED2(Contains, sig.authorization,
               "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request");
}

TEST(SigV4, S3VectorListObjectsSortsTheQuery) {
  const SigV4Signature sig = SignV4(S3Example("/", {{"prefix", "J"}, {"max-keys", "2"}}, ""));
  EXPECT_PRED2(Contains, sig.canonical_request, "GET\n/\nmax-keys=2&prefix=J\n");
  EXPECT_PRED2(Contains, sig.string_to_sign,
               "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7");
  EXPECT_EQ(SignatureOf(sig.authorization),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, HeaderValuesAreTrimmedAndChangingAnythingChangesTheSignature) {
  const SigV4Request req = S3Example("/test.txt", {}, "   bytes=0-9  ");
  EXPECT_EQ(SignatureOf(SignV4(req).authorization),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  const std::string base = SignV4(req).authorization;
  SigV4Request other = req;
  other.secret_key += "x";
  EXPECT_NE(SignV4(other).authorization, base);
  other = S3Example("/test2.txt", {}, "bytes=0-9");
  EXPECT_NE(SignV4(other).authorization, base);
  other = req;
  other.payload_sha256 = Sha256Hex("body");
  EXPECT_NE(SignV4(other).authorization, base);
}

TEST(SigV4, UriEncodeAndSha256) {
  EXPECT_EQ(UriEncode("known/alice/1.jpg", false), "known/alice/1.jpg");
  EXPECT_EQ(UriEncode("a/b", true), "a%2Fb");
  EXPECT_EQ(UriEncode("a b+c~d_e-f.g", true), "a%20b%2Bc~d_e-f.g");
  EXPECT_EQ(UriEncode("\xc3\xa9=&", true), "%C3%A9%3D%26");
  EXPECT_EQ(Sha256Hex(""), kEmptySha256);
  EXPECT_EQ(Sha256Hex("Welcome to Amazon S3."),
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
}

TEST(ListObjectsV2Parse, DecodesEntitiesAndContinuation) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>a&amp;</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>"
      "<IsTruncated>true</IsTruncated>"
      "<Contents><Key>a&amp;b/&lt;c&gt;&quot;&apos;.jpg</Key><Size>1</Size></Contents>"
      "<Contents><Key>&#65;&#x42;&#xe9;/x</Key><ETag>&quot;e&quot;</ETag></Contents>"
      "<Contents><Key>plain/key.jpg</Key></Contents>"
      "<NextContinuationToken>tok&amp;en=</NextContinuationToken>"
      "</ListBucketResult>";
  const auto page = ParseListObjectsV2(xml);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->keys, (Keys{"a&b/<c>\"'.jpg", "AB\xc3\xa9/x", "plain/key.jpg"}));
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_continuation_token, "tok&en=");

  const auto last = ParseListObjectsV2(
      "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  ASSERT_TRUE(last.ok());
  EXPECT_TRUE(last->keys.empty());
  EXPECT_FALSE(last->truncated);
}

TEST(ListObjectsV2Parse, MalformedDocumentsAreErrors) {
  EXPECT_FALSE(ParseListObjectsV2("<Error><Code>AccessDenied</Code></Error>").ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><IsTruncated>true</IsTruncated>"
                                  "</ListBucketResult>")
                   .ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>a&bogus;</Key></Contents>"
                                  "</ListBucketResult>")
                   .ok());
  EXPECT_FALSE(ParseListObjectsV2("<ListBucketResult><Contents><Key>&#0;</Key></Contents>"
                                  "</ListBucketResult>")
                   .ok());
}

TEST(S3ObjectStoreConfig, BadConfigIsInvalidArgumentWithoutAnyServer) {
  ObjectStoreConfig good;
  good.kind = "s3";
  good.s3_endpoint = "http://127.0.0.1:1";
  good.s3_access_key = "a";
  good.s3_secret_key = "s";
  const auto invalid = [](const ObjectStoreConfig& c) {
    return S3ObjectStore::Open(c).status().code() == Status::Code::kInvalidArgument;
  };
  for (const std::string endpoint : {"", "127.0.0.1:9000", "ftp://h", "http://", "http://u@h",
                                     "http://h?x=1", "http://h/a b"}) {
    ObjectStoreConfig c = good;
    c.s3_endpoint = endpoint;
    EXPECT_TRUE(invalid(c)) << endpoint;
  }
  for (const std::string& bucket :
       std::vector<std::string>{"", "ab", "UPPER", "a_b", "-ab", "ab-", std::string(64, 'a')}) {
    ObjectStoreConfig c = good;
    c.s3_bucket = bucket;
    EXPECT_TRUE(invalid(c)) << bucket;
  }
  ObjectStoreConfig c = good;
  c.s3_secret_key = "";
  EXPECT_TRUE(invalid(c));
  c = good;
  c.s3_access_key = "";
  EXPECT_TRUE(invalid(c));
  c = good;
  c.s3_region = "";
  EXPECT_TRUE(invalid(c));
}

TEST(S3ObjectStoreConfig, NothingListeningIsUnavailableNotAHang) {
  ObjectStoreConfig config;
  config.kind = "s3";
  config.s3_endpoint = "http://127.0.0.1:1";  // privileged port nobody serves here
  config.s3_access_key = "a";
  config.s3_secret_key = "secret-never-shown";
  const auto store = OpenObjectStore(config, "");
  EXPECT_EQ(store.status().code(), Status::Code::kUnavailable);
  EXPECT_PRED2(Contains, store.status().message(), "127.0.0.1:1");
  EXPECT_FALSE(Contains(store.status().message(), "secret-never-shown"));
}

class S3ObjectStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    REQUIRE_S3RVER();
    const Status st = server_.Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
    store_ = OpenStore();
    ASSERT_TRUE(store_);
  }

  std::unique_ptr<S3ObjectStore> OpenStore(S3Options options = {},
                                           const std::string& bucket = "concierge-test") {
    auto store = S3ObjectStore::Open(server_.MakeConfig(bucket), options);
    EXPECT_TRUE(store.ok()) << store.status().ToString() << "\n" << server_.Log();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  S3rverServer server_;
  std::unique_ptr<S3ObjectStore> store_;
};

TEST_F(S3ObjectStoreTest, ListFollowsContinuationTokens) {
  S3Options small_pages;
  small_pages.list_page_size = 7;
  auto store = OpenStore(small_pages);
  ASSERT_TRUE(store);
  Keys expected;
  for (int i = 0; i < 60; ++i) {
    const std::string key = "unknown/" + std::to_string(1000 + i) + ".jpg";
    ASSERT_TRUE(store->Put(key, "u").ok());
    expected.push_back(key);
  }
  ASSERT_TRUE(store->Put("known/a.jpg", "k").ok());
  EXPECT_EQ(*store->List("unknown/"), expected);  // 9 pages, the last one partial
  EXPECT_EQ(store->List("")->size(), 61u);
  EXPECT_EQ(store->List("unknown/101")->size(), 10u);
  small_pages.list_page_size = 5;  // a page size that divides the count exactly
  auto exact = OpenStore(small_pages);
  ASSERT_TRUE(exact);
  EXPECT_EQ(*exact->List("unknown/"), expected);
}

TEST_F(S3ObjectStoreTest, ListBeyondOneThousandKeys) {
  constexpr int kCount = 1005;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 4; ++w)
    writers.emplace_back([&, w] {
      for (int i = w; i < kCount; i += 4)
        if (!store_->Put("incoming/" + std::to_string(10000 + i), "").ok()) failures.fetch_add(1);
    });
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures.load(), 0);
  const auto keys = store_->List("incoming/");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  ASSERT_EQ(keys->size(), static_cast<size_t>(kCount));
  EXPECT_EQ(keys->front(), "incoming/10000");
  EXPECT_EQ(keys->back(), "incoming/" + std::to_string(10000 + kCount - 1));
  EXPECT_TRUE(std::is_sorted(keys->begin(), keys->end()));
}

TEST_F(S3ObjectStoreTest, PathTricksAreRejectedBeforeAnyRequest) {
  ASSERT_TRUE(server_.Stop().ok());  // any request would now be kUnavailable
  Keys bad = testing::PathTrickKeys();
  bad.insert(bad.end(), {"a?b", "a%2F"});  // and what would change an S3 URL's meaning
  for (const auto& key : bad) {
    testing::ExpectKeyRefused(*store_, key);
    EXPECT_EQ(store_->Move("ok", key).code(), Status::Code::kInvalidArgument) << key;
  }
  EXPECT_EQ(store_->List("../").status().code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(server_.Start().ok());
  EXPECT_TRUE(store_->List("")->empty());
}

TEST_F(S3ObjectStoreTest, OpenCreatesTheBucketOnceAndReopenKeepsObjects) {
  ASSERT_TRUE(store_->Put("known/alice/1.jpg", "face").ok());
  auto again = OpenStore();  // the bucket exists now
  ASSERT_TRUE(again);
  EXPECT_EQ(*again->Get("known/alice/1.jpg"), "face");

  // Racing openers of a new bucket all succeed.
  std::vector<std::thread> openers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i)
    openers.emplace_back([&] {
      if (!S3ObjectStore::Open(server_.MakeConfig("fresh-bucket")).ok()) failures.fetch_add(1);
    });
  for (auto& t : openers) t.join();
  EXPECT_EQ(failures.load(), 0);
  auto fresh = OpenStore({}, "fresh-bucket");
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(fresh->List("")->empty());  // buckets are separate
}

TEST_F(S3ObjectStoreTest, FactoryOpensKindS3) {
  auto store = OpenObjectStore(server_.MakeConfig(), "");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Put("k", "v").ok());
  EXPECT_EQ(*store_->Get("k"), "v");
}

// s3rver checks the access key id (not the signature): an unknown id is refused.
TEST_F(S3ObjectStoreTest, WrongAccessKeyIsPermissionDeniedAndNamesNoSecret) {
  ObjectStoreConfig config = server_.MakeConfig();
  config.s3_access_key = "NOT-A-KEY";
  config.s3_secret_key = "very-secret-value";
  const auto store = S3ObjectStore::Open(config);
  ASSERT_EQ(store.status().code(), Status::Code::kPermissionDenied) << store.status().ToString();
  const std::string message = store.status().message();
  EXPECT_PRED2(Contains, message, "s3_access_key");
  EXPECT_PRED2(Contains, message, "InvalidAccessKeyId");
  EXPECT_FALSE(Contains(message, "very-secret-value"));
  EXPECT_FALSE(Contains(message, "Signature="));
  EXPECT_FALSE(Contains(message, "AWS4-HMAC-SHA256 Credential"));
}

TEST_F(S3ObjectStoreTest, ServerDownIsUnavailableAndRecoversOnRestart) {
  ASSERT_TRUE(store_->Put("incoming/a.jpg", "a").ok());
  ASSERT_TRUE(server_.Stop().ok());
  EXPECT_EQ(store_->Put("incoming/b.jpg", "b").code(), Status::Code::kUnavailable);
  const auto get = store_->Get("incoming/a.jpg");
  EXPECT_EQ(get.status().code(), Status::Code::kUnavailable);
  EXPECT_PRED2(Contains, get.status().message(), server_.Endpoint());
  EXPECT_EQ(store_->Exists("incoming/a.jpg").status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(store_->Delete("incoming/a.jpg").code(), Status::Code::kUnavailable);
  EXPECT_EQ(store_->Move("incoming/a.jpg", "known/a.jpg").code(), Status::Code::kUnavailable);
  EXPECT_EQ(store_->List("").status().code(), Status::Code::kUnavailable);

  ASSERT_TRUE(server_.Start().ok()) << server_.Log();
  EXPECT_EQ(*store_->Get("incoming/a.jpg"), "a");
  EXPECT_TRUE(store_->Put("incoming/b.jpg", "b").ok());
  EXPECT_EQ(*store_->List("incoming/"), (Keys{"incoming/a.jpg", "incoming/b.jpg"}));
}

// A server that accepts connections but never answers must not hang callers.
TEST_F(S3ObjectStoreTest, UnansweringServerTimesOutAsUnavailable) {
  S3Options quick;
  quick.request_timeout_ms = 500;
  auto store = OpenStore(quick);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->Put("a.jpg", "a").ok());
  server_.Pause();
  const auto start = std::chrono::steady_clock::now();
  const auto get = store->Get("a.jpg");
  const auto waited = std::chrono::steady_clock::now() - start;
  server_.Resume();
  EXPECT_EQ(get.status().code(), Status::Code::kUnavailable);
  EXPECT_PRED2(Contains, get.status().message(), "timed out");
  EXPECT_LT(waited, std::chrono::seconds(30));  // generous: proves a bound, not a speed
  EXPECT_EQ(*store->Get("a.jpg"), "a");
}

TEST_F(S3ObjectStoreTest, ConcurrentCallersShareTheStore) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 15; ++i) {
        std::string key = "t";  // built in steps: GCC 12 misreports "t" + to_string
        key += std::to_string(t) + "/" + std::to_string(i);
        const std::string value(100 + i * t, static_cast<char>('a' + t));
        if (!store_->Put(key, value).ok()) failures.fetch_add(1);
        const auto got = store_->Get(key);
        if (!got.ok() || *got != value) failures.fetch_add(1);
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->List("t")->size(), 90u);
}

// A real HTTP server standing in for S3 where s3rver cannot: 5xx answers. One
// request per connection, answered by a thread; the bucket check gets 200.
class FlakyS3 {
 public:
  // GET of an object answers 503 SlowDown `failures` times, then 200 "hello".
  explicit FlakyS3(int failures) : failures_(failures) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        listen(listen_fd_, 16) == 0 &&
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FlakyS3() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    close(listen_fd_);
  }
  ObjectStoreConfig Config() const {
    ObjectStoreConfig config;
    config.kind = "s3";
    config.s3_endpoint = "http://127.0.0.1:" + std::to_string(port_);
    config.s3_access_key = "key";
    config.s3_secret_key = "flaky-secret";
    return config;
  }
  int gets() const { return gets_.load(); }

 private:
  void Serve() {
    while (!stop_) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::string request;
      char buf[4096];
      ssize_t n;
      while (request.find("\r\n\r\n") == std::string::npos && (n = read(fd, buf, sizeof(buf))) > 0)
        request.append(buf, static_cast<size_t>(n));
      std::string status = "200 OK", body;
      if (request.rfind("GET /concierge/", 0) == 0) {  // an object, not the bucket
        if (gets_.fetch_add(1) < failures_) {
          status = "503 Service Unavailable";
          body = "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>";
        } else {
          body = "hello";
        }
      }
      const std::string response = "HTTP/1.1 " + status + "\r\nContent-Length: " +
                                   std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                   body;
      if (write(fd, response.data(), response.size()) < 0) ADD_FAILURE() << "write failed";
      close(fd);
    }
  }

  const int failures_;
  std::atomic<int> gets_{0};
  std::atomic<bool> stop_{false};
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(S3ObjectStoreRetry, ServerErrorsAreRetriedWithBackoff) {
  FlakyS3 server(2);
  S3Options options;
  options.max_attempts = 3;
  options.first_backoff_ms = 10;
  auto store = S3ObjectStore::Open(server.Config(), options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(*(*store)->Get("a.jpg"), "hello");
  EXPECT_EQ(server.gets(), 3);
}

TEST(S3ObjectStoreRetry, PersistentServerErrorsAreUnavailable) {
  FlakyS3 server(1000);
  S3Options options;
  options.max_attempts = 3;
  options.first_backoff_ms = 10;
  auto store = S3ObjectStore::Open(server.Config(), options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const auto get = (*store)->Get("a.jpg");
  EXPECT_EQ(get.status().code(), Status::Code::kUnavailable);
  EXPECT_PRED2(Contains, get.status().message(), "503 SlowDown");
  EXPECT_FALSE(Contains(get.status().message(), "flaky-secret"));
  EXPECT_EQ(server.gets(), 3);
}

}  // namespace
}  // namespace concierge

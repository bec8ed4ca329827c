// SigV4 verification (http/sigv4.h) on requests as they really arrive: AWS's
// published test-suite vectors (get-vanilla, post-vanilla) and a request
// captured from boto3 1.43 (search_faces_by_image at a fixed clock), then every
// way a request can be wrong, each with the error code AWS gives.
#include <gtest/gtest.h>

#include <string>

#include "http/sigv4.h"

namespace concierge {
namespace {

constexpr char kExampleKey[] = "AKIDEXAMPLE";
constexpr char kExampleSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr int64_t kExampleNow = 1440938160000;  // 20150830T123600Z

// boto3 1.43.11, region eu-central-1, endpoint http://127.0.0.1:8080, clock
// fixed at 2026-05-23 10:15:00 UTC: search_faces_by_image(CollectionId="doorman",
// Image={"Bytes": b"\xff\xd8\xff not really"}, MaxFaces=1, FaceMatchThreshold=70).
constexpr char kBotoKey[] = "AKCCTESTKEY000000001";
constexpr char kBotoSecret[] = "Rk9yIHRlc3RzIG9ubHk6IG5vdCBhIHJlYWwga2V5";
constexpr int64_t kBotoNow = 1779531300000;  // 20260523T101500Z
constexpr char kBotoBody[] =
    R"({"CollectionId": "doorman", "Image": {"Bytes": "/9j/IG5vdCByZWFsbHk="}, "MaxFaces": 1, )"
    R"("FaceMatchThreshold": 70})";

SignedHttpRequest BotoRequest() {
  SignedHttpRequest r;
  r.method = "POST";
  r.path = "/";
  r.headers = {
      {"Host", "127.0.0.1:8080"},
      {"X-Amz-Target", "RekognitionService.SearchFacesByImage"},
      {"Content-Type", "application/x-amz-json-1.1"},
      {"User-Agent", "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux lang/python#3.11.7"},
      {"X-Amz-Date", "20260523T101500Z"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKCCTESTKEY000000001/20260523/eu-central-1/rekognition/"
       "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
       "Signature=4a1e4d7b6df89865dc3dcdb31b32bef456f0b2ccfdf17c0aec87ebe0872337c3"},
      {"amz-sdk-invocation-id", "96e6b2cb-3d6e-47c6-8b1d-311cacdbfa3a"},
      {"amz-sdk-request", "attempt=1"},
      {"Content-Length", "112"}};
  r.body = kBotoBody;
  return r;
}

// Knows one key; counts lookups so tests can see when none was made.
struct Keys {
  std::string id, secret;
  int lookups = 0;
  SecretLookup lookup() {
    return [this](const std::string& key) -> AwsResult<std::string> {
      ++lookups;
      if (key != id)
        return MakeAwsError("UnrecognizedClientException",
                            "The security token included in the request is invalid.");
      return secret;
    };
  }
};

SigV4Policy RekognitionPolicy() {
  SigV4Policy policy;
  policy.required_signed_headers = {"x-amz-target"};
  return policy;
}

void SetHeader(SignedHttpRequest& r, const std::string& name, const std::string& value) {
  for (auto& [n, v] : r.headers)
    if (n == name) v = value;
}

std::string ErrorOf(const AwsResult<SigV4Caller>& r) { return r.ok() ? "ok" : r.error().type; }

TEST(SigV4, AwsTestSuiteVanillaRequestsVerify) {
  Keys keys{kExampleKey, kExampleSecret};
  SigV4Policy policy;
  policy.service = "service";
  SignedHttpRequest get{"GET", "/", {}, {{"Host", "example.amazonaws.com"},
                                          {"X-Amz-Date", "20150830T123600Z"}}, ""};
  get.headers.emplace_back(
      "Authorization",
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, "
      "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  auto verified = VerifySigV4(get, policy, kExampleNow, keys.lookup());
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(verified->region, "us-east-1");

  SignedHttpRequest post = get;
  post.method = "POST";
  SetHeader(post, "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  EXPECT_TRUE(VerifySigV4(post, policy, kExampleNow, keys.lookup()).ok());
  // The GET signature does not fit the POST.
  SetHeader(post, "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(ErrorOf(VerifySigV4(post, policy, kExampleNow, keys.lookup())),
            "InvalidSignatureException");
}

TEST(SigV4, WhatBoto3SendsVerifies) {
  Keys keys{kBotoKey, kBotoSecret};
  auto verified = VerifySigV4(BotoRequest(), RekognitionPolicy(), kBotoNow, keys.lookup());
  ASSERT_TRUE(verified.ok()) << verified.error().message;
  EXPECT_EQ(verified->access_key_id, kBotoKey);
  EXPECT_EQ(verified->region, "eu-central-1");
  // Header names in any case and unsigned headers changing do not matter.
  SignedHttpRequest r = BotoRequest();
  for (auto& [name, value] : r.headers)
    if (name == "Content-Type") name = "content-type";
  SetHeader(r, "User-Agent", "something else");
  EXPECT_TRUE(VerifySigV4(r, RekognitionPolicy(), kBotoNow + 299'000, keys.lookup()).ok());
}

TEST(SigV4, ChangedRequestsAreRefused) {
  Keys keys{kBotoKey, kBotoSecret};
  const SigV4Policy policy = RekognitionPolicy();
  {
    SignedHttpRequest r = BotoRequest();
    const std::string body = std::string(kBotoBody).replace(std::string(kBotoBody).find("1,"), 2,
                                                            "9,");
    r.body = body;
    EXPECT_EQ(ErrorOf(VerifySigV4(r, policy, kBotoNow, keys.lookup())), "InvalidSignatureException");
  }
  {
    SignedHttpRequest r = BotoRequest();
    SetHeader(r, "X-Amz-Target", "RekognitionService.DeleteCollection");
    EXPECT_EQ(ErrorOf(VerifySigV4(r, policy, kBotoNow, keys.lookup())), "InvalidSignatureException");
  }
  {
    SignedHttpRequest r = BotoRequest();
    SetHeader(r, "Host", "127.0.0.1:9090");
    EXPECT_EQ(ErrorOf(VerifySigV4(r, policy, kBotoNow, keys.lookup())), "InvalidSignatureException");
  }
  {
    SignedHttpRequest r = BotoRequest();
    r.query = {{"x", "1"}};
    EXPECT_EQ(ErrorOf(VerifySigV4(r, policy, kBotoNow, keys.lookup())), "InvalidSignatureException");
  }
  {
    Keys wrong{kBotoKey, "a different secret"};
    EXPECT_EQ(ErrorOf(VerifySigV4(BotoRequest(), policy, kBotoNow, wrong.lookup())),
              "InvalidSignatureException");
  }
  {
    SignedHttpRequest r = BotoRequest();
    r.headers.emplace_back("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD");
    auto refused = VerifySigV4(r, policy, kBotoNow, keys.lookup());
    EXPECT_EQ(ErrorOf(refused), "InvalidSignatureException");
  }
}

TEST(SigV4, ClockSkewOfMoreThanFiveMinutesIsRefusedBothWays) {
  Keys keys{kBotoKey, kBotoSecret};
  const SigV4Policy policy = RekognitionPolicy();
  EXPECT_TRUE(VerifySigV4(BotoRequest(), policy, kBotoNow - 300'000, keys.lookup()).ok());
  auto late = VerifySigV4(BotoRequest(), policy, kBotoNow + 301'000, keys.lookup());
  EXPECT_EQ(ErrorOf(late), "InvalidSignatureException");
  EXPECT_NE(late.error().message.find("Signature expired: 20260523T101500Z"), std::string::npos)
      << late.error().message;
  auto early = VerifySigV4(BotoRequest(), policy, kBotoNow - 301'000, keys.lookup());
  EXPECT_EQ(ErrorOf(early), "InvalidSignatureException");
  EXPECT_NE(early.error().message.find("not yet current"), std::string::npos);
  EXPECT_EQ(keys.lookups, 1) << "stale requests are refused before any key lookup";
}

TEST(SigV4, UnknownKeysAndSessionTokensAreUnrecognized) {
  Keys other{"AKCCSOMEONEELSE00000", kBotoSecret};
  EXPECT_EQ(ErrorOf(VerifySigV4(BotoRequest(), RekognitionPolicy(), kBotoNow, other.lookup())),
            "UnrecognizedClientException");
  Keys keys{kBotoKey, kBotoSecret};
  SignedHttpRequest r = BotoRequest();
  r.headers.emplace_back("X-Amz-Security-Token", "FwoGZXIvYXdzEXAMPLE");
  EXPECT_EQ(ErrorOf(VerifySigV4(r, RekognitionPolicy(), kBotoNow, keys.lookup())),
            "UnrecognizedClientException");
}

TEST(SigV4, MalformedAuthorizationIsIncompleteOrMissing) {
  Keys keys{kBotoKey, kBotoSecret};
  const SigV4Policy policy = RekognitionPolicy();
  SignedHttpRequest none = BotoRequest();
  std::erase_if(none.headers, [](const auto& h) { return h.first == "Authorization"; });
  EXPECT_EQ(ErrorOf(VerifySigV4(none, policy, kBotoNow, keys.lookup())),
            "MissingAuthenticationTokenException");
  const std::string prefix = "AWS4-HMAC-SHA256 Credential=" + std::string(kBotoKey) +
                             "/20260523/eu-central-1/rekognition/aws4_request, ";
  const std::string signature =
      "Signature=4a1e4d7b6df89865dc3dcdb31b32bef456f0b2ccfdf17c0aec87ebe0872337c3";
  for (const std::string& bad :
       {std::string("Bearer abc"), std::string("AWS4-HMAC-SHA512 Credential=x"),
        prefix + signature,                                          // no SignedHeaders
        prefix + "SignedHeaders=host;x-amz-date",                    // no Signature
        "AWS4-HMAC-SHA256 Credential=AKCC/2026/eu/rekognition/aws4_request, "
        "SignedHeaders=host, " + signature,                          // bad date
        prefix + "SignedHeaders=Host;X-Amz-Date, " + signature,      // upper case
        prefix + "SignedHeaders=host;x-amz-date, Signature=XYZ",     // not hex
        std::string(5000, 'A')}) {
    SignedHttpRequest r = BotoRequest();
    SetHeader(r, "Authorization", bad);
    EXPECT_EQ(ErrorOf(VerifySigV4(r, policy, kBotoNow, keys.lookup())),
              "IncompleteSignatureException")
        << bad.substr(0, 100);
  }
  SignedHttpRequest no_date = BotoRequest();
  std::erase_if(no_date.headers, [](const auto& h) { return h.first == "X-Amz-Date"; });
  EXPECT_EQ(ErrorOf(VerifySigV4(no_date, policy, kBotoNow, keys.lookup())),
            "IncompleteSignatureException");
  SignedHttpRequest presigned = BotoRequest();
  presigned.query = {{"X-Amz-Signature", "abc"}};
  EXPECT_EQ(ErrorOf(VerifySigV4(presigned, policy, kBotoNow, keys.lookup())),
            "IncompleteSignatureException");
  EXPECT_EQ(keys.lookups, 0);
}

TEST(SigV4, ScopeAndSignedHeadersMustFit) {
  Keys keys{kBotoKey, kBotoSecret};
  const std::string signature =
      ", Signature=4a1e4d7b6df89865dc3dcdb31b32bef456f0b2ccfdf17c0aec87ebe0872337c3";
  for (const std::string& bad : {
           // another service, another day, another terminator
           "AWS4-HMAC-SHA256 Credential=AKCCTESTKEY000000001/20260523/eu-central-1/s3/"
           "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target" + signature,
           "AWS4-HMAC-SHA256 Credential=AKCCTESTKEY000000001/20260522/eu-central-1/rekognition/"
           "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target" + signature,
           "AWS4-HMAC-SHA256 Credential=AKCCTESTKEY000000001/20260523/eu-central-1/rekognition/"
           "aws5_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target" + signature,
           // the operation, the host or the date unsigned; a signed header that is not sent
           "AWS4-HMAC-SHA256 Credential=AKCCTESTKEY000000001/20260523/eu-central-1/rekognition/"
           "aws4_request, SignedHeaders=content-type;host;x-amz-date" + signature,
           "AWS4-HMAC-SHA256 Credential=AKCCTESTKEY000000001/20260523/eu-central-1/rekognition/"
           "aws4_request, SignedHeaders=content-type;x-amz-date;x-amz-target" + signature,
           "AWS4-HMAC-SHA256 Credential=AKCCTESTKEY000000001/20260523/eu-central-1/rekognition/"
           "aws4_request, SignedHeaders=content-type;host;x-amz-target" + signature,
           "AWS4-HMAC-SHA256 Credential=AKCCTESTKEY000000001/20260523/eu-central-1/rekognition/"
           "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target;x-extra" +
               signature}) {
    SignedHttpRequest r = BotoRequest();
    SetHeader(r, "Authorization", bad);
    EXPECT_EQ(ErrorOf(VerifySigV4(r, RekognitionPolicy(), kBotoNow, keys.lookup())),
              "InvalidSignatureException")
        << bad;
  }
  EXPECT_EQ(keys.lookups, 0);
}

TEST(SigV4, AmzDatesAreStrict) {
  EXPECT_EQ(ParseAmzDate("20150830T123600Z"), kExampleNow);
  EXPECT_EQ(FormatAmzDate(kExampleNow + 999), "20150830T123600Z");
  for (const char* bad : {"", "20150830T123600", "2015-08-30T12:36:00Z", "20150230T123600Z",
                          "20151330T123600Z", "20150830T253600Z", "2015083OT123600Z",
                          "20150830T123600Z "})
    EXPECT_EQ(ParseAmzDate(bad), -1) << bad;
}

}  // namespace
}  // namespace concierge

// libFuzzer target: the Rekognition-compatible API's request parsing: the
// AWS JSON body against the botocore model of one operation, the SigV4
// Authorization header and X-Amz-Date, and the whole SigV4 check.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "http/aws_model.h"
#include "http/sigv4.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concierge;
  static const char* kOperations[] = {"SearchFacesByImage", "IndexFaces", "DetectFaces",
                                      "CreateCollection",   "ListFaces",  "DeleteFaces",
                                      "CompareFaces",       "SearchFaces"};
  FuzzedDataProvider in(data, size);
  const std::string operation = in.PickValueInArray(kOperations);
  const std::string authorization = in.ConsumeRandomLengthString(512);
  const std::string amz_date = in.ConsumeRandomLengthString(32);
  const std::string path = in.ConsumeRandomLengthString(64);
  const std::string body = in.ConsumeRemainingBytesAsString();

  auto input = ParseAwsJsonBody(body, 64 * 1024);
  if (input.ok()) (void)AwsServiceModel::Rekognition().ValidateInput(operation, *input);
  (void)ParseSigV4Authorization(authorization);
  (void)ParseAmzDate(amz_date);

  SignedHttpRequest request;
  request.method = "POST";
  request.path = path.empty() ? "/" : path;
  request.headers = {{"Host", "127.0.0.1"},
                     {"X-Amz-Date", amz_date},
                     {"Authorization", authorization},
                     {"X-Amz-Target", "RekognitionService." + operation}};
  request.body = body;
  const auto secret = [](const std::string&) -> AwsResult<std::string> {
    return std::string("fuzz-secret-access-key");
  };
  (void)VerifySigV4(request, SigV4Policy{}, ParseAmzDate(amz_date) > 0 ? ParseAmzDate(amz_date) : 0,
                    secret);
  return 0;
}

#include "http/rekognition_routes.h"

#include <sodium.h>

#include <memory>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/metrics.h"
#include "http/aws_model.h"
#include "http/rekognition_service.h"
#include "http/sigv4.h"
#include "store/access_keys.h"

namespace concierge {

namespace {

using json = nlohmann::json;

constexpr char kContentType[] = "application/x-amz-json-1.1";

AwsError Unrecognized() {
  return MakeAwsError("UnrecognizedClientException",
                      "The security token included in the request is invalid.");
}

// A random version-4 UUID for x-amzn-RequestId.
std::string NewRequestId() {
  unsigned char raw[16];
  randombytes_buf(raw, sizeof(raw));
  raw[6] = static_cast<unsigned char>((raw[6] & 0x0f) | 0x40);
  raw[8] = static_cast<unsigned char>((raw[8] & 0x3f) | 0x80);
  char hex[33];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  const std::string h(hex);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

// The path as sent, without the query: SigV4 signs the encoded form.
std::string RawPath(const httplib::Request& req) {
  const std::string& target = req.target.empty() ? req.path : req.target;
  return target.substr(0, target.find('?'));
}

class RekognitionApi {
 public:
  explicit RekognitionApi(const ApiContext& ctx)
      : ctx_(ctx) {
    if (ctx.rekognition)
      service_ = std::make_unique<RekognitionService>(
          RekognitionParts{ctx.config, ctx.rekognition, ctx.open_face_repository, ctx.faces,
                           ctx.engine, ctx.objects, ctx.matcher});
    auto keys = ctx.accounts
                    ? AccessKeyStore::Open(ctx.accounts, ctx.config->aws.key_encryption_secret)
                    : Result<std::unique_ptr<AccessKeyStore>>(
                          Status::FailedPrecondition("this server keeps no access keys"));
    if (keys.ok()) {
      keys_ = std::move(*keys);
    } else {
      spdlog::warn("rekognition: every request will be refused: {}", keys.status().message());
    }
  }

  void Handle(const httplib::Request& req, httplib::Response& res) {
    res.set_header("x-amzn-RequestId", NewRequestId());
    std::string operation = "-", caller = "-";
    AwsResult<json> result = Process(req, &operation, &caller);
    // Both labels come from fixed sets: model operations ("-" otherwise) and error types.
    Metrics()
        .counter("concierge_rekognition_requests_total",
                 "Rekognition-compatible API requests by operation and outcome",
                 {{"operation", operation}, {"outcome", result.ok() ? "ok" : result.error().type}})
        .Inc();
    if (!result.ok()) {
      spdlog::info("rekognition: op={} key={} error={}", operation, caller, result.error().type);
      return SendAwsError(res, result.error());
    }
    spdlog::debug("rekognition: op={} key={} ok", operation, caller);
    res.status = 200;
    res.set_content(result->dump(-1, ' ', false, json::error_handler_t::replace), kContentType);
  }

 private:
  AwsResult<json> Process(const httplib::Request& req, std::string* operation,
                          std::string* caller) {
    SignedHttpRequest signed_request;
    signed_request.method = req.method;
    signed_request.path = RawPath(req);
    for (const auto& [name, value] : req.params) signed_request.query.emplace_back(name, value);
    for (const auto& [name, value] : req.headers) signed_request.headers.emplace_back(name, value);
    signed_request.body = req.body;
    SigV4Policy policy;
    policy.max_skew_ms = int64_t{ctx_.config->aws.max_clock_skew_s} * 1000;
    // The operation must be signed too, or a captured request could be
    // replayed as another operation.
    policy.required_signed_headers = {"x-amz-target"};
    AwsResult<SigV4Caller> who = VerifySigV4(
        signed_request, policy, NowMs(),
        [this](const std::string& id) { return SecretFor(id); });
    if (!who.ok()) return who.error();
    *caller = who->access_key_id;

    const AwsServiceModel& model = AwsServiceModel::Rekognition();
    const std::string target = req.get_header_value("X-Amz-Target");
    const std::string prefix = model.target_prefix() + ".";
    const std::string name = target.rfind(prefix, 0) == 0 ? target.substr(prefix.size()) : "";
    if (name.empty() || !model.HasOperation(name))
      return MakeAwsError("UnknownOperationException",
                          "Unknown operation '" + target.substr(0, 128) + "'.");
    *operation = name;
    const std::string type = req.get_header_value("Content-Type");
    const std::string media = type.substr(0, type.find(';'));
    if (media != kContentType && media != "application/json")
      return MakeAwsError("SerializationException",
                          "Content-Type must be application/x-amz-json-1.1.");
    AwsResult<json> input = ParseAwsJsonBody(req.body, kMaxAwsRequestBytes);
    if (!input.ok()) return input.error();
    if (auto invalid = model.ValidateInput(name, *input)) return *invalid;
    if (!service_)
      return MakeAwsError("InternalServerError",
                          "The Rekognition API's collections are not open in this process.");
    return service_->Run(name, *input, who->region);
  }

  AwsResult<std::string> SecretFor(const std::string& id) {
    if (!keys_) return Unrecognized();
    Result<std::string> secret = keys_->SecretFor(id);
    if (secret.ok()) return std::move(*secret);
    switch (secret.status().code()) {
      case Status::Code::kNotFound: return Unrecognized();
      case Status::Code::kFailedPrecondition:
        spdlog::error("rekognition: {}", secret.status().message());
        return Unrecognized();
      default:
        spdlog::error("rekognition: access key lookup failed: {}", secret.status().ToString());
        return MakeAwsError("InternalServerError", "Internal server error.");
    }
  }

  const ApiContext ctx_;
  std::unique_ptr<RekognitionService> service_;  // null without ctx.rekognition
  std::unique_ptr<AccessKeyStore> keys_;  // null without aws.key_encryption_secret
};

}  // namespace

bool IsAwsRequest(const httplib::Request& req) { return req.has_header("X-Amz-Target"); }

void SendAwsError(httplib::Response& res, const AwsError& error, int status) {
  res.status = status != 0 ? status : error.http_status();
  res.set_header("Cache-Control", "no-store");
  res.set_content(json{{"__type", error.type}, {"Code", error.type}, {"Message", error.message}}
                      .dump(-1, ' ', false, json::error_handler_t::replace),
                  kContentType);
}

void RegisterRekognitionRoutes(httplib::Server& server, const ApiContext& ctx) {
  if (!ctx.config->aws.enabled) return;
  auto api = std::make_shared<RekognitionApi>(ctx);
  server.Post("/", [api](const httplib::Request& req, httplib::Response& res) {
    api->Handle(req, res);
  });
}

}  // namespace concierge

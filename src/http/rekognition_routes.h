// The Rekognition-compatible endpoint on the HTTP server: AWS JSON 1.1 at
// POST / with X-Amz-Target: RekognitionService.<Operation>, so code written
// for boto3 or the AWS SDKs only changes its endpoint_url. Each request is,
// in order: SigV4-verified against the access keys of `concierge aws-key`
// (sigv4.h), parsed with bounded size and depth and validated against
// botocore's model (aws_model.h), then run by RekognitionService. Answers are
// application/x-amz-json-1.1 with an x-amzn-RequestId header; errors are
// AWS-shaped (aws_error.h). Bodies, keys and signatures are never logged.
#pragma once

#include <httplib.h>

#include "http/api_context.h"
#include "http/aws_error.h"

namespace concierge {

// The largest request body read as AWS JSON: two 5 MiB images in base64
// (CompareFaces) with room to spare. Larger bodies get SerializationException;
// bodies over http.max_body_bytes are refused by the server (413) unread.
inline constexpr size_t kMaxAwsRequestBytes = 16 * 1024 * 1024;

// Needs ctx.config; registers POST / unless aws.enabled is false. Without
// aws.key_encryption_secret every request is refused
// (UnrecognizedClientException) and a warning is logged once; without
// ctx.rekognition signed requests get InternalServerError.
void RegisterRekognitionRoutes(httplib::Server& server, const ApiContext& ctx);

// True when the request speaks the AWS JSON protocol (it has X-Amz-Target),
// so even the server's own errors (413, 404) are answered AWS-style.
bool IsAwsRequest(const httplib::Request& req);

// Writes {"__type","Code","Message"} as application/x-amz-json-1.1 with
// error.http_status(), or `status` when it is not 0.
void SendAwsError(httplib::Response& res, const AwsError& error, int status = 0);

}  // namespace concierge

// Reading AWS JSON requests (http/aws_model.h) and the Rekognition shapes
// (http/rekognition_shapes.h): bounded parsing, validation against botocore's
// model in AWS's wording, the similarity scale, FaceIds and quality bars.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "http/aws_model.h"
#include "http/rekognition_shapes.h"

namespace concierge {
namespace {

using json = nlohmann::json;

std::string Violations(const std::string& operation, const json& input) {
  auto error = AwsServiceModel::Rekognition().ValidateInput(operation, input);
  if (!error) return "";
  EXPECT_EQ(error->type, "ValidationException");
  return error->message;
}

TEST(AwsJsonBody, IsBoundedInSizeAndDepth) {
  EXPECT_TRUE(ParseAwsJsonBody("", 100).ok());
  EXPECT_TRUE(ParseAwsJsonBody(R"({"a": [1, {"b": "[[[["}]})", 100).ok());
  for (const std::string& bad : {std::string("{\"a\":"), std::string("[1]"), std::string("\"x\""),
                                 std::string("{} {}"), std::string(40, '[') + std::string(40, ']'),
                                 "{\"a\":" + std::string(33, '[') + std::string(33, ']') + "}"}) {
    auto parsed = ParseAwsJsonBody(bad, 1000);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().type, "SerializationException") << bad;
  }
  auto big = ParseAwsJsonBody("{\"a\": \"" + std::string(200, 'x') + "\"}", 100);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().type, "SerializationException");
  // Deep but within the bound.
  EXPECT_TRUE(ParseAwsJsonBody("{\"a\":" + std::string(30, '[') + std::string(30, ']') + "}", 1000)
                  .ok());
}

TEST(AwsServiceModel, ServesTheIssuesOperationsFromBotocore) {
  const AwsServiceModel& model = AwsServiceModel::Rekognition();
  EXPECT_EQ(model.target_prefix(), "RekognitionService");
  for (const char* op :
       {"CreateCollection", "DeleteCollection", "ListCollections", "DescribeCollection",
        "IndexFaces", "ListFaces", "DeleteFaces", "SearchFaces", "SearchFacesByImage",
        "CreateUser", "DeleteUser", "ListUsers", "AssociateFaces", "DisassociateFaces",
        "SearchUsers", "SearchUsersByImage", "DetectFaces", "CompareFaces"})
    EXPECT_TRUE(model.HasOperation(op)) << op;
  EXPECT_EQ(model.operations().size(), 18u);
  EXPECT_FALSE(model.HasOperation("DetectLabels"));
  EXPECT_EQ(model.input_shape("IndexFaces"), "IndexFacesRequest");
  EXPECT_EQ(model.shape("FaceId")["type"], "string");
}

TEST(AwsServiceModel, ValidRequestsPassAndUnknownMembersAreIgnored) {
  EXPECT_EQ(Violations("SearchFacesByImage",
                       {{"CollectionId", "doorman"},
                        {"Image", {{"S3Object", {{"Bucket", "concierge"}, {"Name", "a/b.jpg"}}}}},
                        {"MaxFaces", 1},
                        {"FaceMatchThreshold", 70},
                        {"Unknown", {{"deep", {1, 2}}}}}),
            "");
  EXPECT_EQ(Violations("ListCollections", json::object()), "");
  EXPECT_EQ(Violations("CreateUser", {{"CollectionId", "c"},
                                      {"UserId", "ada"},
                                      {"ClientRequestToken", "a-b_c-1"}}),
            "");
  // null means absent, as in AWS.
  EXPECT_EQ(Violations("ListFaces", {{"CollectionId", "c"}, {"NextToken", nullptr}}), "");
}

TEST(AwsServiceModel, ViolationsAreNamedAsAwsNamesThem) {
  const std::string missing = Violations("IndexFaces", {{"Image", {{"Bytes", "aGk="}}}});
  EXPECT_EQ(missing,
            "1 validation error detected: Value null at 'collectionId' failed to satisfy "
            "constraint: Member must not be null");
  const std::string several =
      Violations("SearchFacesByImage", {{"CollectionId", "has space"},
                                        {"Image", {{"Bytes", 5}}},
                                        {"MaxFaces", "one"},
                                        {"FaceMatchThreshold", 170},
                                        {"QualityFilter", "BEST"}});
  EXPECT_NE(several.find("5 validation errors detected"), std::string::npos) << several;
  EXPECT_NE(several.find("Value 'has space' at 'collectionId' failed to satisfy constraint: "
                         "Member must satisfy regular expression pattern: [a-zA-Z0-9_.\\-]+"),
            std::string::npos)
      << several;
  EXPECT_NE(several.find("'image.bytes'"), std::string::npos);
  EXPECT_NE(several.find("at 'maxFaces' failed to satisfy constraint: Member must be an integer"),
            std::string::npos);
  EXPECT_NE(several.find("Member must have value less than or equal to 100"), std::string::npos);
  EXPECT_NE(several.find("Member must satisfy enum value set: [NONE, AUTO, LOW, MEDIUM, HIGH]"),
            std::string::npos);

  EXPECT_NE(Violations("CreateCollection", {{"CollectionId", std::string(256, 'a')}})
                .find("length less than or equal to 255"),
            std::string::npos);
  EXPECT_NE(Violations("CreateCollection", {{"CollectionId", ""}}).find("greater than or equal"),
            std::string::npos);
  EXPECT_NE(Violations("DeleteFaces", {{"CollectionId", "c"}, {"FaceIds", json::array()}})
                .find("'faceIds'"),
            std::string::npos);
  EXPECT_NE(Violations("DeleteFaces", {{"CollectionId", "c"}, {"FaceIds", {"not-a-uuid"}}})
                .find("'faceIds.1.member'"),
            std::string::npos);
  EXPECT_NE(Violations("CreateCollection", {{"CollectionId", "c"}, {"Tags", {{"k", 5}}}})
                .find("'tags.value'"),
            std::string::npos);
  EXPECT_NE(Violations("IndexFaces", json::array()).find("structure"), std::string::npos);
  EXPECT_NE(Violations("ListFaces", {{"CollectionId", "c"}, {"MaxResults", 1.5}})
                .find("integer"),
            std::string::npos);
  // A long value is refused without running the pattern over it, and echoed short.
  const std::string huge = Violations("SearchFaces", {{"CollectionId", "c"},
                                                      {"FaceId", std::string(1 << 20, 'a')}});
  EXPECT_NE(huge.find("regular expression"), std::string::npos);
  EXPECT_LT(huge.size(), 400u);
}

TEST(RekognitionShapes, SimilarityPutsTheThresholdInForceAt80) {
  for (float threshold : {0.3f, 0.53f, 0.7f}) {
    SCOPED_TRACE(threshold);
    EXPECT_NEAR(SimilarityPercent(threshold, threshold), 80, 1e-6);
    EXPECT_NEAR(SimilarityPercent(threshold * 7 / 8, threshold), 70, 1e-4);
    EXPECT_EQ(SimilarityPercent(1, threshold), 100);
    EXPECT_EQ(SimilarityPercent(0, threshold), 0);
    EXPECT_EQ(SimilarityPercent(-0.4f, threshold), 0);
    EXPECT_EQ(SimilarityPercent(1.2f, threshold), 100);
    double previous = -1;
    for (float c = -1; c <= 1; c += 0.01f) {
      const double s = SimilarityPercent(c, threshold);
      EXPECT_GE(s, previous);
      previous = s;
    }
  }
  EXPECT_NEAR(SimilarityPercent(0.46375f, 0.53f), 70, 1e-3);
}

TEST(RekognitionShapes, FaceIdsRoundTripAndRejectOthers) {
  EXPECT_EQ(FaceIdForRow(42), "cc000000-0000-4000-8000-00000000002a");
  EXPECT_EQ(RowFromFaceId(FaceIdForRow(42)), 42);
  EXPECT_EQ(RowFromFaceId(FaceIdForRow(123456789012)), 123456789012);
  for (const char* bad :
       {"", "cc000000-0000-4000-8000-000000000000", "cc000000-0000-4000-8000-00000000002A",
        "dd000000-0000-4000-8000-00000000002a", "cc000000-0000-4000-8000-00000000002a0",
        "cc000000-0000-4000-8000-0000000000-2"})
    EXPECT_FALSE(RowFromFaceId(bad)) << bad;
  const std::string image_id = ImageIdFor("some bytes");
  EXPECT_EQ(image_id.size(), 36u);
  EXPECT_EQ(image_id, ImageIdFor("some bytes"));
  EXPECT_NE(image_id, ImageIdFor("other bytes"));
}

TEST(RekognitionShapes, QualityFiltersScaleTheConfiguredGate) {
  const QualityGate configured;
  EXPECT_FALSE(BarForFilter("NONE", configured));
  const auto automatic = BarForFilter("AUTO", configured);
  ASSERT_TRUE(automatic);
  EXPECT_EQ(automatic->gate.min_face_px, configured.min_face_px);
  EXPECT_EQ(BarForFilter("MEDIUM", configured)->gate.min_face_px, configured.min_face_px);
  EXPECT_LT(BarForFilter("LOW", configured)->gate.min_face_px, configured.min_face_px);
  EXPECT_GT(BarForFilter("HIGH", configured)->gate.min_face_px, configured.min_face_px);
  EXPECT_GT(BarForFilter("HIGH", configured)->min_detector_score, 0);

  FaceObservation good;
  good.detector_score = 0.99f;
  good.quality = {80, 100, 5, 5, 120, 0.9f};
  EXPECT_TRUE(QualityReasons(good, BarForFilter("HIGH", configured)).empty());
  FaceObservation bad;
  bad.detector_score = 0.8f;
  bad.quality = {30, 3, 70, 5, 10, 0.1f};
  EXPECT_EQ(QualityReasons(bad, BarForFilter("HIGH", configured)),
            (std::vector<std::string>{"LOW_CONFIDENCE", "SMALL_BOUNDING_BOX", "LOW_SHARPNESS",
                                      "EXTREME_POSE", "LOW_BRIGHTNESS"}));
  EXPECT_TRUE(QualityReasons(bad, BarForFilter("NONE", configured)).empty());
  FaceObservation medium = good;
  medium.quality.size_px = 50;  // passes AUTO (40), fails HIGH (60)
  EXPECT_TRUE(QualityReasons(medium, BarForFilter("AUTO", configured)).empty());
  EXPECT_EQ(QualityReasons(medium, BarForFilter("HIGH", configured)),
            std::vector<std::string>{"SMALL_BOUNDING_BOX"});
}

TEST(RekognitionShapes, BoxesAndLandmarksAreRatiosOfTheImage) {
  FaceObservation face;
  face.box = {100, 50, 200, 100};
  face.detector_score = 0.97f;
  face.points = {{{150, 80}, {250, 80}, {200, 100}, {160, 130}, {240, 130}}};
  const json detail = FaceDetailJson(face, 400, 200);
  EXPECT_EQ(detail["BoundingBox"],
            (json{{"Width", 0.5}, {"Height", 0.5}, {"Left", 0.25}, {"Top", 0.25}}));
  EXPECT_EQ(detail["Landmarks"][0], (json{{"Type", "eyeLeft"}, {"X", 0.375}, {"Y", 0.4}}));
  EXPECT_EQ(detail["Landmarks"].size(), 5u);
  EXPECT_EQ(detail["Pose"]["Roll"], 0);
  EXPECT_EQ(detail["Confidence"], 97);
}

}  // namespace
}  // namespace concierge

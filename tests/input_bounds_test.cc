// Every parser of outside input is bounded and type-checked: JSON size and
// depth (ParseBoundedJson), the sighting payload's ranges and base64, and
// Slack interaction payloads with wrong types. No real parts needed: these
// are the parsers themselves (HTTP and MQTT tests drive them end to end).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/json_limits.h"
#include "notify/http_post.h"
#include "notify/slack_interactions.h"
#include "pipeline/sighting.h"

namespace concierge {
namespace {

using Json = nlohmann::json;

std::string Deep(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

TEST(BoundedJson, EveryParserRefusesDeepAndHugeJson) {
  EXPECT_TRUE(ParseBoundedJson(R"({"a":[1,{"b":"[[[[[["}]})").ok()) << "brackets in strings";
  EXPECT_TRUE(ParseBoundedJson(Deep(32)).ok());

  auto deep = ParseBoundedJson(Deep(50'000));
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(deep.status().message().find("nested deeper than 32"), std::string::npos);

  auto huge = ParseBoundedJson("\"" + std::string(2000, 'x') + "\"", {1000, 32});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), Status::Code::kTooLarge);

  auto broken = ParseBoundedJson("{\"a\":");
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), Status::Code::kInvalidArgument);

  // The sighting decoder and the Slack endpoint use it too.
  auto sighting = DecodeSighting("{\"v\":1,\"id\":" + Deep(50'000) + "}", DecodeLimits{});
  ASSERT_FALSE(sighting.ok());
  EXPECT_EQ(sighting.status().message().rfind("json:", 0), 0u) << sighting.status().message();
}

Sighting GoodSighting() {
  Sighting s;
  s.id = "0123456789abcdef";
  s.camera = "door";
  s.site = "office";
  s.track = "track-1";
  s.captured_ms = 1'700'000'000'000;
  s.box = {10, 20, 100, 120};
  s.detector_score = 0.99f;
  s.quality = {100, 50, 3, -2, 120, 0.9f};
  s.live_score = 0.97f;
  s.jpeg = std::string("\xff\xd8\xff\xe0 not really a JPEG", 22);
  s.faces = {{5, 5, 40, 50}};
  s.human_score = 0.8f;
  s.capture_clock = CaptureClock::kFileStart;
  return s;
}

// The good sighting's JSON with `change` applied, decoded.
Result<Sighting> DecodeChanged(const std::function<void(Json&)>& change) {
  Json j = Json::parse(EncodeSighting(GoodSighting()));
  change(j);
  return DecodeSighting(j.dump(), DecodeLimits{});
}

TEST(SightingValidation, OutOfRangeNumbersBoxesAndNonCanonicalBase64AreRefused) {
  ASSERT_TRUE(DecodeChanged([](Json&) {}).ok());
  ASSERT_TRUE(DecodeChanged([](Json& j) { j["live_score"] = -1; }).ok()) << "-1: not measured";
  ASSERT_TRUE(DecodeChanged([](Json& j) { j.erase("faces"); j.erase("human_score"); }).ok());
  auto without_clock = DecodeChanged([](Json& j) { j.erase("capture_clock"); });
  ASSERT_TRUE(without_clock.ok()) << "an older edge does not say what its times are";
  EXPECT_EQ(without_clock->capture_clock, CaptureClock::kUnstated);
  EXPECT_EQ(DecodeChanged([](Json&) {})->capture_clock, CaptureClock::kFileStart);

  const std::vector<std::pair<const char*, std::function<void(Json&)>>> bad = {
      {"detector_score 5", [](Json& j) { j["detector_score"] = 5; }},
      {"detector_score as text", [](Json& j) { j["detector_score"] = "0.9"; }},
      {"box of 1e308", [](Json& j) { j["box"] = {0, 0, 1e308, 10}; }},
      {"negative box side", [](Json& j) { j["box"] = {10, 10, -50, 40}; }},
      {"negative box corner", [](Json& j) { j["box"] = {-10, 10, 50, 40}; }},
      {"empty box", [](Json& j) { j["box"] = {10, 10, 0, 0}; }},
      {"box of text", [](Json& j) { j["box"] = {"a", 1, 2, 3}; }},
      {"seq 1e20", [](Json& j) { j["seq"] = 1e20; }},
      {"seq too large", [](Json& j) { j["seq"] = uint64_t{1} << 40; }},
      {"negative seq", [](Json& j) { j["seq"] = -1; }},
      {"negative capture time", [](Json& j) { j["captured_ms"] = -5; }},
      {"brightness 300", [](Json& j) { j["quality"]["brightness"] = 300; }},
      {"quality score 2", [](Json& j) { j["quality"]["score"] = 2; }},
      {"yaw 1000", [](Json& j) { j["quality"]["yaw"] = 1000; }},
      {"negative sharpness", [](Json& j) { j["quality"]["sharpness"] = -1; }},
      {"quality not an object", [](Json& j) { j["quality"] = 1; }},
      {"live_score -0.5", [](Json& j) { j["live_score"] = -0.5; }},
      {"live_score 7", [](Json& j) { j["live_score"] = 7; }},
      {"face of 1e308", [](Json& j) { j["faces"] = {{0, 0, 1e308, 10}}; }},
      {"negative face", [](Json& j) { j["faces"] = {{-4, 0, 10, 10}}; }},
      {"five faces", [](Json& j) { j["faces"] = Json::array({{0, 0, 9, 9}, {0, 0, 9, 9},
                                                            {0, 0, 9, 9}, {0, 0, 9, 9},
                                                            {0, 0, 9, 9}}); }},
      {"human_score 2", [](Json& j) { j["human_score"] = 2; }},
      {"human_score as text", [](Json& j) { j["human_score"] = "high"; }},
      {"capture_clock of a sundial", [](Json& j) { j["capture_clock"] = "sundial"; }},
      {"capture_clock as number", [](Json& j) { j["capture_clock"] = 1; }},
      {"unpadded base64", [](Json& j) { j["jpeg"] = "QQ"; }},
      {"stray bits in base64", [](Json& j) { j["jpeg"] = "QR=="; }},
      {"padding inside base64", [](Json& j) { j["jpeg"] = "QQ=A"; }},
      {"id as number", [](Json& j) { j["id"] = 12345678; }},
  };
  for (const auto& [what, change] : bad) {
    auto decoded = DecodeChanged(change);
    EXPECT_FALSE(decoded.ok()) << what << " was accepted";
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), Status::Code::kInvalidArgument) << what;
    }
  }
}

constexpr const char* kSecret = "test-signing-secret";
constexpr int64_t kNow = 1'700'000'000;

// Each call signs with another second, so the replay guard lets repeats through.
InteractionReply Interact(SlackInteractions& slack, const std::string& payload) {
  static int64_t age_s = 0;
  const int64_t at = kNow - (++age_s % 200);
  const std::string body = FormEncode({{"payload", payload}});
  return slack.Handle(std::to_string(at), SignSlackRequest(kSecret, at, body), body);
}

TEST(SlackPayloads, WrongTypesAre400NotAnError500) {
  // No trainer: a payload that reached an action would crash, so every case
  // must be refused while it is checked.
  SlackInteractions slack(kSecret, nullptr, [] { return kNow; });
  const std::vector<std::string> bad = {
      R"({"type": 5})",
      R"({"type": "block_actions", "user": {"id": 7}, "actions": []})",
      R"({"type": "block_actions", "user": "U1", "actions": []})",
      R"({"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": 3}]})",
      R"({"type": "block_actions", "user": {"id": "U1"},
          "actions": [{"action_id": "ignore", "block_id": ["cluster:1"]}]})",
      R"({"type": "block_actions", "user": {"id": "U1"},
          "actions": [{"action_id": "not_me", "value": {"id": "x"}}]})",
      R"({"type": "block_actions", "user": {"id": "U1"}, "actions": [7]})",
      "{\"type\": " + Deep(50'000) + "}",
      "not json",
  };
  for (const std::string& payload : bad) {
    InteractionReply reply;
    ASSERT_NO_THROW(reply = Interact(slack, payload)) << payload.substr(0, 120);
    EXPECT_EQ(reply.status, 400) << payload.substr(0, 120) << " -> " << reply.body;
  }
  const InteractionReply named =
      Interact(slack, R"({"type": "block_actions", "user": {"id": 7}, "actions": []})");
  EXPECT_NE(named.body.find("user.id"), std::string::npos) << named.body;
  // Other payload types are still acknowledged.
  EXPECT_EQ(Interact(slack, R"({"type": "view_closed"})").status, 200);
}

}  // namespace
}  // namespace concierge

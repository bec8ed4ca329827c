// Slack request signing: the published example, forged/stale/malformed
// requests, replay refusal, and a signed block_actions POST from the fake
// Slack verified by a real HTTP receiver.
#include <cctype>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "notify/slack_signature.h"
#include "support/fake_slack.h"

namespace concierge {
namespace {

using testing::FakeSlack;

constexpr char kSecret[] = "8f742231b10e8888abcd99yyyzzz85a5";

TEST(SlackSignature, MatchesSlackDocumentedExample) {
  // The worked example from Slack's "Verifying requests from Slack" guide.
  const std::string body =
      "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="
      "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"
      "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%"
      "2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."
      "803a0bc887a14d10d2c447fce8b6703c";
  const std::string expected =
      "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
  EXPECT_EQ(SignSlackRequest(kSecret, 1531420618, body), expected);
  EXPECT_TRUE(VerifySlackRequest(kSecret, "1531420618", expected, body, 1531420618 + 10).ok());
}

TEST(SlackSignature, RejectsForgedTamperedAndMalformed) {
  const int64_t now = 1700000000;
  const std::string body = "payload=%7B%7D";
  const std::string good = SignSlackRequest(kSecret, now, body);
  EXPECT_TRUE(VerifySlackRequest(kSecret, "1700000000", good, body, now).ok());
  // Upper-case hex is the same signature.
  std::string upper = good;
  for (size_t i = 3; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(VerifySlackRequest(kSecret, "1700000000", upper, body, now).ok());

  const auto code = [&](std::string_view secret, std::string_view ts, std::string_view sig,
                        std::string_view b) {
    return VerifySlackRequest(secret, ts, sig, b, now).code();
  };
  using C = Status::Code;
  EXPECT_EQ(code("another-secret", "1700000000", good, body), C::kPermissionDenied);
  EXPECT_EQ(code(kSecret, "1700000000", good, body + "x"), C::kPermissionDenied);
  EXPECT_EQ(code(kSecret, "1700000001", good, body), C::kPermissionDenied);  // ts is signed
  std::string flipped = good;
  flipped.back() = flipped.back() == '0' ? '1' : '0';
  EXPECT_EQ(code(kSecret, "1700000000", flipped, body), C::kPermissionDenied);
  EXPECT_EQ(code(kSecret, "", good, body), C::kInvalidArgument);
  EXPECT_EQ(code(kSecret, "17e8", good, body), C::kInvalidArgument);
  EXPECT_EQ(code(kSecret, "-1700000000", good, body), C::kInvalidArgument);
  EXPECT_EQ(code(kSecret, "1700000000", "", body), C::kInvalidArgument);
  EXPECT_EQ(code(kSecret, "1700000000", "v1=" + good.substr(3), body), C::kInvalidArgument);
  EXPECT_EQ(code(kSecret, "1700000000", good.substr(0, 40), body), C::kInvalidArgument);
  EXPECT_EQ(code("", "1700000000", good, body), C::kInvalidArgument);
}

TEST(SlackSignature, RejectsStaleAndFutureTimestamps) {
  const int64_t ts = 1700000000;
  const std::string body = "payload=%7B%7D";
  const std::string sig = SignSlackRequest(kSecret, ts, body);
  EXPECT_TRUE(VerifySlackRequest(kSecret, "1700000000", sig, body, ts + 300).ok());
  EXPECT_EQ(VerifySlackRequest(kSecret, "1700000000", sig, body, ts + 301).code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(VerifySlackRequest(kSecret, "1700000000", sig, body, ts - 301).code(),
            Status::Code::kPermissionDenied);
  EXPECT_TRUE(VerifySlackRequest(kSecret, "1700000000", sig, body, ts + 50, 60).ok());
  EXPECT_FALSE(VerifySlackRequest(kSecret, "1700000000", sig, body, ts + 61, 60).ok());
}

TEST(ReplayGuard, RefusesASecondUseWithinTheWindowAndStaysBounded) {
  ReplayGuard guard(300, 3);
  const int64_t now = 1700000000;
  EXPECT_TRUE(guard.CheckAndRemember("v0=a", now, now).ok());
  EXPECT_EQ(guard.CheckAndRemember("v0=a", now, now + 10).code(), Status::Code::kPermissionDenied);
  EXPECT_TRUE(guard.CheckAndRemember("v0=b", now, now).ok());
  EXPECT_TRUE(guard.CheckAndRemember("v0=c", now + 1, now + 1).ok());
  // Full of fresh signatures: refuse rather than forget one.
  EXPECT_EQ(guard.CheckAndRemember("v0=d", now + 2, now + 2).code(), Status::Code::kUnavailable);
  EXPECT_EQ(guard.size(), 3u);
  // Once the window has passed the old ones are forgotten (the verifier
  // rejects their timestamps by then anyway) and there is room again.
  EXPECT_TRUE(guard.CheckAndRemember("v0=d", now + 400, now + 400).ok());
  EXPECT_EQ(guard.size(), 1u);
}

// A receiver like the future /slack/interactive endpoint: verify, refuse
// replays, then read the form-encoded payload.
TEST(SlackSignature, SignedBlockActionsFromFakeSlackVerifyOnceAndReplayIsRefused) {
  FakeSlack slack;
  ReplayGuard guard;
  std::mutex mu;
  std::vector<nlohmann::json> accepted;
  testing::TestHttpServer receiver([&](const testing::TestHttpRequest& req) {
    testing::TestHttpResponse res;
    const std::string ts = req.Header("X-Slack-Request-Timestamp");
    const std::string sig = req.Header("X-Slack-Signature");
    const int64_t now = NowMs() / 1000;
    Status st = VerifySlackRequest(kSecret, ts, sig, req.body, now);
    if (st.ok()) st = guard.CheckAndRemember(sig, std::stoll(ts), now);
    if (!st.ok()) {
      res.status = 401;
      res.body = st.ToString();
      return res;
    }
    std::lock_guard<std::mutex> lock(mu);
    accepted.push_back(nlohmann::json::parse(testing::ParseForm(req.body).at("payload")));
    return res;
  });
  const int port = receiver.port();
  ASSERT_GT(port, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/slack/interactive";

  const nlohmann::json payload = slack.BlockActionsPayload(
      "U0ALICE", "C0CONCIERGE", "1700000000.000100",
      FakeSlack::UsersSelectAction("tag", "tag_person", "U0BOB"));
  const int64_t ts = NowMs() / 1000;
  auto first = FakeSlack::PostInteractive(url, kSecret, payload, ts);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->status, 200);
  auto replay = FakeSlack::PostInteractive(url, kSecret, payload, ts);
  ASSERT_TRUE(replay.ok());
  EXPECT_EQ(replay->status, 401);
  EXPECT_NE(replay->body.find("replayed"), std::string::npos);
  auto forged = FakeSlack::PostInteractive(url, "not-the-secret", payload);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, 401);
  auto stale = FakeSlack::PostInteractive(url, kSecret, payload, ts - 600);
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->status, 401);

  receiver.Stop();
  ASSERT_EQ(accepted.size(), 1u);
  const nlohmann::json& got = accepted[0];
  EXPECT_EQ(got["type"], "block_actions");
  EXPECT_EQ(got["user"]["id"], "U0ALICE");
  EXPECT_EQ(got["container"]["message_ts"], "1700000000.000100");
  EXPECT_EQ(got["channel"]["id"], "C0CONCIERGE");
  EXPECT_EQ(got["actions"][0]["type"], "users_select");
  EXPECT_EQ(got["actions"][0]["selected_user"], "U0BOB");
}

}  // namespace
}  // namespace concierge

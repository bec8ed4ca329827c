// The webhook communicator against a real HTTP receiver that checks the
// signature; retries on 5xx, gives up on 4xx; the Dispatcher fan-out.
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "notify/communicator.h"
#include "notify/slack_client.h"
#include "notify/slack_communicator.h"
#include "notify/webhook.h"
#include "support/fake_slack.h"

namespace concierge {
namespace {

constexpr char kSecret[] = "webhook-test-secret";

// A receiver that verifies each request and answers with the next queued status.
class Receiver {
 public:
  Receiver()
      : server_([this](const testing::TestHttpRequest& req) {
          std::lock_guard<std::mutex> lock(mu_);
          Status st = VerifyWebhook(kSecret, req.Header("X-Concierge-Timestamp"),
                                    req.Header("X-Concierge-Signature"), req.body, NowMs() / 1000);
          verified_.push_back(st.ok());
          bodies_.push_back(req.body);
          keys_.push_back(req.Header("X-Concierge-Idempotency-Key"));
          testing::TestHttpResponse res;
          res.status = statuses_.empty() ? 200 : statuses_.front();
          if (!statuses_.empty()) statuses_.erase(statuses_.begin());
          return res;
        }) {}
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(server_.port()) + "/hook";
  }
  void Answer(std::vector<int> statuses) {
    std::lock_guard<std::mutex> lock(mu_);
    statuses_ = std::move(statuses);
  }
  std::vector<bool> verified() {
    std::lock_guard<std::mutex> lock(mu_);
    return verified_;
  }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  std::vector<std::string> keys() {
    std::lock_guard<std::mutex> lock(mu_);
    return keys_;
  }

 private:
  std::mutex mu_;
  std::vector<int> statuses_;
  std::vector<bool> verified_;
  std::vector<std::string> bodies_, keys_;
  testing::TestHttpServer server_;  // last: stopped before the state it writes
};

WebhookOptions Options(const std::string& url, const std::string& secret = kSecret) {
  WebhookOptions o;
  o.url = url;
  o.secret = secret;
  o.timeout_ms = 3000;
  o.call_attempts = 4;
  o.backoff_initial_ms = 10;
  o.backoff_max_ms = 50;
  return o;
}

Notification Unknown() {
  Notification n;
  n.kind = "unknown_face";
  n.idempotency_key = "ask:sighting-1";
  n.payload = {{"sighting_id", "sighting-1"}, {"camera", "door"}};
  return n;
}

TEST(Webhook, PostsSignedJsonTheReceiverCanVerify) {
  Receiver receiver;
  WebhookCommunicator hook(Options(receiver.url()));
  auto receipt = hook.Publish(Unknown());
  ASSERT_TRUE(receipt.ok()) << receipt.status().ToString();
  EXPECT_EQ(*receipt, "200");
  ASSERT_EQ(receiver.verified(), std::vector<bool>{true});
  const auto body = nlohmann::json::parse(receiver.bodies()[0]);
  EXPECT_EQ(body["kind"], "unknown_face");
  EXPECT_EQ(body["idempotency_key"], "ask:sighting-1");
  EXPECT_EQ(body["payload"]["camera"], "door");
  EXPECT_EQ(receiver.keys()[0], "ask:sighting-1");

  // Signed with another secret: the receiver can tell.
  WebhookCommunicator impostor(Options(receiver.url(), "guessed"));
  ASSERT_TRUE(impostor.Publish(Unknown()).ok());
  EXPECT_FALSE(receiver.verified()[1]);
}

TEST(Webhook, VerifyRejectsTamperedStaleAndMalformed) {
  const int64_t now = 1700000000;
  const std::string body = R"({"kind":"greeting"})";
  const std::string sig = SignWebhook(kSecret, now, body);
  EXPECT_EQ(sig.substr(0, 7), "sha256=");
  EXPECT_TRUE(VerifyWebhook(kSecret, "1700000000", sig, body, now).ok());
  EXPECT_EQ(VerifyWebhook(kSecret, "1700000000", sig, body + " ", now).code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(VerifyWebhook(kSecret, "1700000000", sig, body, now + 301).code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(VerifyWebhook(kSecret, "soon", sig, body, now).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(VerifyWebhook(kSecret, "1700000000", "sha256=00", body, now).code(),
            Status::Code::kPermissionDenied);
}

TEST(Webhook, RetriesServerErrorsAndGivesUpOnClientErrors) {
  Receiver receiver;
  WebhookCommunicator hook(Options(receiver.url()));
  receiver.Answer({503, 500});
  ASSERT_TRUE(hook.Publish(Unknown()).ok());
  EXPECT_EQ(receiver.bodies().size(), 3u);
  for (bool ok : receiver.verified()) EXPECT_TRUE(ok);  // every retry freshly signed

  receiver.Answer({400});
  auto rejected = hook.Publish(Unknown());
  EXPECT_EQ(rejected.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(receiver.bodies().size(), 4u);

  receiver.Answer({503, 503, 503, 503});
  auto down = hook.Publish(Unknown());
  EXPECT_TRUE(IsTransient(down.status()));
  EXPECT_EQ(receiver.bodies().size(), 8u);

  EXPECT_EQ(WebhookCommunicator(Options("")).Publish(Unknown()).status().code(),
            Status::Code::kFailedPrecondition);
}

TEST(Dispatcher, FansOutToEveryCommunicatorEvenWhenOneFails) {
  Receiver receiver;
  testing::FakeSlack slack;
  SlackClientOptions so;
  so.api_url = slack.api_url();
  so.bot_token = slack.token();
  Dispatcher dispatcher;
  WebhookOptions broken = Options("http://127.0.0.1:1/nothing-listens-here");
  broken.call_attempts = 1;
  dispatcher.Add(std::make_shared<WebhookCommunicator>(broken));
  dispatcher.Add(std::make_shared<SlackCommunicator>(std::make_shared<SlackClient>(so),
                                                     "C0CONCIERGE"));
  dispatcher.Add(std::make_shared<WebhookCommunicator>(Options(receiver.url())));
  Notification n = Unknown();
  n.payload["text"] = "Who is this?";
  auto outcomes = dispatcher.Publish(n);
  ASSERT_EQ(outcomes.size(), 3u);
  EXPECT_EQ(outcomes[0].communicator, "webhook");
  EXPECT_TRUE(IsTransient(outcomes[0].receipt.status()));
  EXPECT_EQ(outcomes[1].communicator, "slack");
  ASSERT_TRUE(outcomes[1].receipt.ok()) << outcomes[1].receipt.status().ToString();
  EXPECT_EQ(*outcomes[1].receipt, "C0CONCIERGE:" + slack.Messages().at(0).ts);
  EXPECT_TRUE(outcomes[2].receipt.ok());
  EXPECT_EQ(receiver.bodies().size(), 1u);
  dispatcher.Stop();
}

}  // namespace
}  // namespace concierge

// SlackClient against the fake Slack Web API: message post/update, the
// external upload flow, users.info, ok:false mapping, 429 storms, outages.
#include <cctype>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "core/config.h"
#include "notify/communicator.h"
#include "notify/slack_client.h"
#include "notify/slack_messages.h"
#include "support/fake_slack.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using testing::FakeSlack;

SlackClientOptions FastOptions(const FakeSlack& slack) {
  SlackClientOptions o;
  o.api_url = slack.api_url();
  o.bot_token = slack.token();
  o.timeout_ms = 3000;
  o.call_attempts = 4;
  o.backoff_initial_ms = 20;
  o.backoff_max_ms = 100;
  o.max_retry_after_s = 5;
  return o;
}

std::string Header(const testing::FakeSlackCall& call, const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto it = call.headers.find(lower);
  return it == call.headers.end() ? "" : it->second;
}

const nlohmann::json kBlocks = nlohmann::json::parse(R"([
  {"type": "section", "text": {"type": "mrkdwn", "text": "Who is this?"}},
  {"type": "actions", "block_id": "tag", "elements": [
    {"type": "users_select", "action_id": "tag_person",
     "placeholder": {"type": "plain_text", "text": "Pick a person"}},
    {"type": "button", "action_id": "ignore", "style": "danger", "value": "s1",
     "text": {"type": "plain_text", "text": "Ignore"},
     "confirm": {"title": {"type": "plain_text", "text": "Delete this picture?"},
                 "text": {"type": "plain_text", "text": "The picture is deleted."},
                 "confirm": {"type": "plain_text", "text": "Delete"},
                 "deny": {"type": "plain_text", "text": "Keep"}, "style": "danger"}}]}])");

TEST(SlackClient, PostsAndUpdatesMessagesWithBearerTokenAndBlocks) {
  FakeSlack slack;
  SlackClient client(FastOptions(slack));
  auto posted = client.PostMessage("#concierge", kBlocks, "Who is this?",
                                   {{"event_type", "concierge_notification"},
                                    {"event_payload", {{"idempotency_key", "k1"}}}});
  ASSERT_TRUE(posted.ok()) << posted.status().ToString();
  EXPECT_EQ(posted->channel, "C0CONCIERGE");  // the id, even when posted by name
  EXPECT_FALSE(posted->ts.empty());

  auto calls = slack.Calls("chat.postMessage");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(Header(calls[0], "Authorization"), "Bearer " + slack.token());
  EXPECT_NE(Header(calls[0], "Content-Type").find("application/json"), std::string::npos);
  const auto sent = nlohmann::json::parse(calls[0].body);
  EXPECT_EQ(sent["blocks"], kBlocks);
  EXPECT_EQ(sent["text"], "Who is this?");

  ASSERT_TRUE(client.UpdateMessage(posted->channel, posted->ts, nullptr, "Tagged as Bob").ok());
  auto messages = slack.Messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].text, "Tagged as Bob");
  EXPECT_EQ(messages[0].edits, 1);
  EXPECT_EQ(messages[0].metadata["event_payload"]["idempotency_key"], "k1");

  Status missing = client.UpdateMessage(posted->channel, "1.000001", nullptr, "x");
  EXPECT_EQ(missing.code(), Status::Code::kNotFound);
  EXPECT_NE(missing.message().find("message_not_found"), std::string::npos);
}

TEST(SlackClient, UploadsAnImageThroughTheExternalUploadFlow) {
  FakeSlack slack;
  SlackClient client(FastOptions(slack));
  const std::string jpeg("\xFF\xD8\xFF\xE0 fake jpeg bytes \x00\x01\xFF\xD9", 24);
  auto file_id = client.UploadImage("", "stranger.jpg", jpeg, "Unknown visitor");
  ASSERT_TRUE(file_id.ok()) << file_id.status().ToString();
  EXPECT_EQ(slack.Files().at(*file_id), jpeg);

  auto calls = slack.Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].method, "files.getUploadURLExternal");
  EXPECT_NE(calls[0].body.find("filename=stranger.jpg"), std::string::npos);
  EXPECT_NE(calls[0].body.find("length=24"), std::string::npos);
  EXPECT_EQ(calls[1].method, "upload");
  EXPECT_EQ(Header(calls[1], "Authorization"), "");  // the token never goes to the upload URL
  EXPECT_EQ(calls[2].method, "files.completeUploadExternal");
  const auto complete = nlohmann::json::parse(calls[2].body);
  EXPECT_EQ(complete["files"][0]["id"], *file_id);
  EXPECT_EQ(complete["files"][0]["title"], "Unknown visitor");
  EXPECT_FALSE(complete.contains("channel_id"));

  auto shared = client.UploadImage("C0CONCIERGE", "b.jpg", jpeg);
  ASSERT_TRUE(shared.ok());
  EXPECT_EQ(nlohmann::json::parse(slack.Calls("files.completeUploadExternal").back().body)
                ["channel_id"], "C0CONCIERGE");
  EXPECT_EQ(client.UploadImage("C0NOPE", "c.jpg", jpeg).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(client.UploadImage("", "d.jpg", "").status().code(), Status::Code::kInvalidArgument);
}

TEST(SlackClient, LooksUpUsers) {
  FakeSlack slack;
  SlackClient client(FastOptions(slack));
  auto alice = client.UsersInfo("U0ALICE");
  ASSERT_TRUE(alice.ok()) << alice.status().ToString();
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->real_name, "Alice Liddell");
  EXPECT_EQ(alice->display_name, "Alice");
  EXPECT_FALSE(alice->admin);
  // A person made from a Slack user is named by the profile's real name, not the handle.
  auto alice_in_chat = client.LookUp("U0ALICE");
  ASSERT_TRUE(alice_in_chat.ok()) << alice_in_chat.status().ToString();
  EXPECT_EQ(alice_in_chat->real_name, "Alice Liddell");
  EXPECT_FALSE(alice_in_chat->admin);
  auto ada = client.LookUp("U0ADA");
  ASSERT_TRUE(ada.ok());
  EXPECT_TRUE(ada->admin);
  EXPECT_EQ(client.UsersInfo("U0NOBODY").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(client.LookUp("U0NOBODY").status().code(), Status::Code::kNotFound);
}

TEST(SlackClient, MapsPermanentErrorsWithoutRetrying) {
  FakeSlack slack;
  SlackClientOptions wrong = FastOptions(slack);
  wrong.bot_token = "xoxb-wrong";
  auto denied = SlackClient(wrong).PostMessage("C0CONCIERGE", nullptr, "hi");
  EXPECT_EQ(denied.status().code(), Status::Code::kPermissionDenied);
  EXPECT_FALSE(IsTransient(denied.status()));
  EXPECT_NE(denied.status().message().find("invalid_auth"), std::string::npos);

  SlackClient client(FastOptions(slack));
  auto lost = client.PostMessage("C0NOWHERE", nullptr, "hi");
  EXPECT_EQ(lost.status().code(), Status::Code::kNotFound);
  EXPECT_NE(lost.status().message().find("channel_not_found"), std::string::npos);
  EXPECT_EQ(slack.Calls("chat.postMessage").size(), 2u);  // one call each, no retries

  wrong.bot_token.clear();
  EXPECT_EQ(SlackClient(wrong).PostMessage("C0CONCIERGE", nullptr, "hi").status().code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(slack.Calls("chat.postMessage").size(), 2u);  // refused before calling

  EXPECT_TRUE(IsTransient(SlackErrorStatus("m", "ratelimited")));
  EXPECT_TRUE(IsTransient(SlackErrorStatus("m", "internal_error")));
  EXPECT_EQ(SlackErrorStatus("m", "token_revoked").code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(SlackErrorStatus("m", "invalid_blocks").code(), Status::Code::kInvalidArgument);
}

TEST(SlackClient, HonoursRetryAfterDuringA429Storm) {
  FakeSlack slack;
  SlackClient client(FastOptions(slack));
  slack.RateLimitNext(2, 1);
  auto posted = client.PostMessage("C0CONCIERGE", nullptr, "hello");
  ASSERT_TRUE(posted.ok()) << posted.status().ToString();
  auto calls = slack.Calls("chat.postMessage");
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].http_status, 429);
  EXPECT_EQ(calls[1].http_status, 429);
  EXPECT_TRUE(calls[2].ok);
  // Retry-After: 1 was honoured: consecutive calls at least ~1 s apart (lower
  // bound only, with slack for clock granularity; never an upper bound).
  EXPECT_GE(calls[1].at_ms - calls[0].at_ms, 950);
  EXPECT_GE(calls[2].at_ms - calls[1].at_ms, 950);

  // A storm longer than the attempts: a transient failure for the caller.
  slack.RateLimitNext(10, 1);
  SlackClientOptions two = FastOptions(slack);
  two.call_attempts = 2;
  auto limited = SlackClient(two).PostMessage("C0CONCIERGE", nullptr, "hello");
  EXPECT_EQ(limited.status().code(), Status::Code::kUnavailable);
  EXPECT_TRUE(IsTransient(limited.status()));
}

TEST(SlackClient, RecoversFromAnOutageAndReportsRefusedConnectionsAsTransient) {
  FakeSlack slack;
  SlackClientOptions o = FastOptions(slack);
  o.call_attempts = 50;
  SlackClient client(o);
  slack.SetDown(true);
  Result<SlackMessageRef> posted = Status::Internal("not run");
  std::thread caller([&] { posted = client.PostMessage("C0CONCIERGE", nullptr, "back?"); });
  while (slack.Calls("chat.postMessage").size() < 3)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  slack.SetDown(false);
  caller.join();
  ASSERT_TRUE(posted.ok()) << posted.status().ToString();
  auto calls = slack.Calls("chat.postMessage");
  EXPECT_GE(calls.size(), 4u);
  EXPECT_EQ(calls.front().http_status, 503);
  EXPECT_TRUE(calls.back().ok);
  EXPECT_EQ(slack.Messages().size(), 1u);

  slack.Close();
  SlackClientOptions few = FastOptions(slack);
  few.call_attempts = 2;
  auto refused = SlackClient(few).PostMessage("C0CONCIERGE", nullptr, "anyone?");
  EXPECT_EQ(refused.status().code(), Status::Code::kUnavailable);
  slack.Reopen();
  EXPECT_TRUE(SlackClient(few).PostMessage("C0CONCIERGE", nullptr, "again").ok());
}

TEST(SlackClient, CancelEndsARetryWaitPromptly) {
  FakeSlack slack;
  SlackClientOptions o = FastOptions(slack);
  o.max_retry_after_s = 60;
  SlackClient client(o);
  slack.RateLimitNext(5, 60);
  Result<SlackMessageRef> posted = Status::Internal("not run");
  std::thread caller([&] { posted = client.PostMessage("C0CONCIERGE", nullptr, "x"); });
  while (slack.Calls().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  client.Cancel();
  caller.join();  // would take a minute without Cancel
  EXPECT_EQ(posted.status().code(), Status::Code::kUnavailable);
  EXPECT_EQ(slack.Calls().size(), 1u);
}

TEST(SlackClient, NeverLogsTheBotToken) {
  FakeSlack slack("xoxb-very-secret-token");
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  SlackClient client(FastOptions(slack));
  slack.RateLimitNext(1, 0);
  EXPECT_TRUE(client.PostMessage("C0CONCIERGE", nullptr, "x").ok());
  SlackClientOptions wrong = FastOptions(slack);
  wrong.bot_token = "xoxb-wrong-but-also-secret";
  EXPECT_FALSE(SlackClient(wrong).PostMessage("C0CONCIERGE", nullptr, "x").ok());
  spdlog::set_default_logger(previous);
  EXPECT_NE(captured.str().find("retrying"), std::string::npos);  // something was logged
  EXPECT_EQ(captured.str().find("very-secret"), std::string::npos);
  EXPECT_EQ(captured.str().find("also-secret"), std::string::npos);
}

TEST(NotifyConfig, TokensComeFromFileOrEnvironmentAndAreRedacted) {
  auto parsed = ConfigFromJson(nlohmann::json::parse(
      R"({"notify": {"slack_bot_token": "xoxb-file", "slack_signing_secret": "s1",
                     "webhook_secret": "w1", "slack_channel": "C0CONCIERGE"}})"));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->notify.slack_bot_token, "xoxb-file");
  EXPECT_EQ(parsed->notify.slack_api_url, "https://slack.com/api");
  const nlohmann::json redacted = RedactedConfig(*parsed);
  EXPECT_EQ(redacted["notify"]["slack_bot_token"], "***");
  EXPECT_EQ(redacted["notify"]["slack_signing_secret"], "***");
  EXPECT_EQ(redacted["notify"]["webhook_secret"], "***");
  EXPECT_EQ(redacted["notify"]["slack_channel"], "C0CONCIERGE");
  EXPECT_FALSE(ConfigFromJson(nlohmann::json::parse(R"({"notify": {"slack_tokn": "x"}})")).ok());

  testing::TempDir dir;
  ::setenv("CONCIERGE_NOTIFY_SLACK_BOT_TOKEN", "xoxb-env", 1);
  auto loaded = LoadConfig(dir.path(), "");
  ::unsetenv("CONCIERGE_NOTIFY_SLACK_BOT_TOKEN");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->notify.slack_bot_token, "xoxb-env");
  EXPECT_EQ(SlackClientOptionsFromConfig(loaded->notify).bot_token, "xoxb-env");
}

// Who tagged or ignored a stranger, as the channel reads it: no raw actor ids.
TEST(SlackMessagesTest, ActorsReadAsTheTeamKnowsThem) {
  EXPECT_EQ(ActorMention("slack:U0BOB"), "<@U0BOB>");
  EXPECT_EQ(ActorMention("user:office.manager"), "office.manager");
  EXPECT_EQ(ActorMention("token:7f3a9c"), "an API client");
  EXPECT_EQ(ActorMention("cli"), "the command line");
  EXPECT_EQ(ActorMention("concierge"), "concierge");
  EXPECT_EQ(ActorMention("user:"), "user:");  // no name: shown as it is
  EXPECT_EQ(StrangerTagged("Colin", "user:dana", SeenAt{}).text.rfind("Trained as Colin by dana", 0), 0u);
  EXPECT_EQ(StrangerIgnored("token:abc", 3).text.rfind("Ignored by an API client", 0), 0u);
}

}  // namespace
}  // namespace concierge

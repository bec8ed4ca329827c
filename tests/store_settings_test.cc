// The settings saved through the API over each backend (one suite, SQLite and
// PostgreSQL), and how a server lays them over its config. Each "server"
// opens the store anew on the same database, so with PostgreSQL this is what
// several servers rely on: a change saved on one is read by the others, and
// changes made on two at once are both kept.
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/config.h"
#include "support/store_backend.h"

namespace concierge {
namespace {

using Json = nlohmann::json;

class SettingsStoreTest : public testing::StoreBackendTest {};
CONCIERGE_ALL_STORE_BACKENDS(SettingsStoreTest);

TEST_P(SettingsStoreTest, AChangeSavedOnOneServerIsReadOnAnother) {
  auto first = OpenSettings();
  auto second = OpenSettings();
  ASSERT_TRUE(first && second);
  auto empty = second->Load();
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_EQ(*empty, Json::object());

  ASSERT_TRUE(first
                  ->Update([](Json& doc) {
                    doc["recognition"]["gallery_cap"] = 12;
                    return Status::Ok();
                  })
                  .ok());
  auto seen = second->Load();
  ASSERT_TRUE(seen.ok()) << seen.status().ToString();
  EXPECT_EQ((*seen)["recognition"]["gallery_cap"], 12);

  // A failing edit saves nothing, and its reason comes back.
  const Status refused = second->Update([](Json& doc) {
    doc["recognition"]["gallery_cap"] = 99;
    return Status::InvalidArgument("no");
  });
  EXPECT_EQ(refused.code(), Status::Code::kInvalidArgument);
  auto after_refusal = OpenSettings()->Load();
  ASSERT_TRUE(after_refusal.ok());
  EXPECT_EQ((*after_refusal)["recognition"]["gallery_cap"], 12);
}

TEST_P(SettingsStoreTest, ChangesMadeOnTwoServersAtOnceAreAllKept) {
  constexpr int kEach = 25;
  auto first = OpenSettings();
  auto second = OpenSettings();
  ASSERT_TRUE(first && second);
  // Each server counts under its own key and both bump one shared counter:
  // a lost update would leave the shared count short.
  auto count = [](SettingsStore* store, const std::string& mine) {
    for (int i = 0; i < kEach; ++i) {
      const Status s = store->Update([&](Json& doc) {
        doc["shared"] = doc.value("shared", 0) + 1;
        doc[mine] = doc.value(mine, 0) + 1;
        return Status::Ok();
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
  };
  std::thread a(count, first.get(), "a");
  std::thread b(count, second.get(), "b");
  a.join();
  b.join();
  auto doc = OpenSettings()->Load();
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ((*doc)["a"], kEach);
  EXPECT_EQ((*doc)["b"], kEach);
  EXPECT_EQ((*doc)["shared"], 2 * kEach);
}

// How a start applies them: over the file's config, never a secret or a
// file-only setting, and an environment variable still wins.
TEST(StoredSettingsTest, LieOverTheConfigButNotOverSecretsFileOnlyKeysOrTheEnvironment) {
  Config loaded;
  loaded.recognition.gallery_cap = 5;
  loaded.notify.slack_bot_token = "xoxb-from-the-file";
  loaded.http.port = 8080;
  loaded.serve.visit_window_s = 300;
  const Json stored = {
      {"recognition", {{"gallery_cap", 12}}},
      {"serve", {{"visit_window_s", 120}}},
      {"notify", {{"slack_bot_token", "xoxb-from-the-database"}}},
      {"http", {{"port", 1}}},
  };
  ::setenv("CONCIERGE_SERVE_VISIT_WINDOW_S", "90", 1);
  auto config = ConfigWithStoredSettings(loaded, stored);
  ::unsetenv("CONCIERGE_SERVE_VISIT_WINDOW_S");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->recognition.gallery_cap, 12);
  EXPECT_EQ(config->serve.visit_window_s, 90);
  EXPECT_EQ(config->notify.slack_bot_token, "xoxb-from-the-file");
  EXPECT_EQ(config->http.port, 8080);

  auto bad = ConfigWithStoredSettings(loaded, {{"recognition", {{"gallery_cap", "many"}}}});
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
}

TEST(StoredSettingsTest, APatchSplitsIntoWhatTheDatabaseMayHoldAndWhatStaysInTheFile) {
  Json storable, file_part;
  SplitSettingsPatch({{"recognition", {{"gallery_cap", 12}}},
                      {"notify", {{"slack_bot_token", "xoxb"}, {"slack_channel", "C1"}}},
                      {"edge", {{"cameras", Json::array()}, {"jpeg_quality", 80}}},
                      {"serve", {{"visit_window_s", nullptr}}}},
                     &storable, &file_part);
  EXPECT_EQ(storable, Json({{"recognition", {{"gallery_cap", 12}}},
                            {"notify", {{"slack_channel", "C1"}}},
                            {"edge", {{"jpeg_quality", 80}}},
                            {"serve", {{"visit_window_s", nullptr}}}}));
  EXPECT_EQ(file_part, Json({{"notify", {{"slack_bot_token", "xoxb"}}},
                             {"edge", {{"cameras", Json::array()}}},
                             {"serve", {{"visit_window_s", nullptr}}}}));
}

}  // namespace
}  // namespace concierge

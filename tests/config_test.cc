#include "core/config.h"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/test_env.h"

namespace concierge {
namespace {

TEST(ConfigTest, DefaultsApplyWithoutFile) {
  testing::TempDir dir;
  auto config = LoadConfig(dir.path(), "");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->data_dir, dir.path());
  EXPECT_EQ(config->DatabasePath(), dir.path() + "/concierge.db");
  EXPECT_EQ(config->bus.kind, "inprocess");
}

TEST(ConfigTest, FileThenEnvironmentOverride) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("config.json")) << R"({"recognition":{"target_false_welcome_rate":0.002},
      "bus":{"mqtt":{"port":1999}}})";
  setenv("CONCIERGE_BUS_MQTT_PORT", "2001", 1);
  auto config = LoadConfig(dir.path(), "");
  unsetenv("CONCIERGE_BUS_MQTT_PORT");
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_DOUBLE_EQ(config->recognition.target_false_welcome_rate, 0.002);
  EXPECT_EQ(config->bus.mqtt.port, 2001);
}

// The settings API saves secrets (and cameras) to the file the config came
// from: the one --config named (as the Debian package's units do), else
// <data_dir>/config.json.
TEST(ConfigTest, TheConfigFileIsTheOneItWasReadFrom) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("etc.json")) << R"({"serve":{"workers":3}})";
  auto named = LoadConfig(dir.path(), dir.Sub("etc.json"));
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->ConfigFilePath(), dir.Sub("etc.json"));
  auto with_stored = ConfigWithStoredSettings(*named, {{"serve", {{"workers", 4}}}});
  ASSERT_TRUE(with_stored.ok()) << with_stored.status().ToString();
  EXPECT_EQ(with_stored->serve.workers, 4);
  EXPECT_EQ(with_stored->ConfigFilePath(), dir.Sub("etc.json"));
  auto implied = LoadConfig(dir.path(), "");
  ASSERT_TRUE(implied.ok());
  EXPECT_EQ(implied->ConfigFilePath(), dir.Sub("config.json"));
}

TEST(ConfigTest, EmbeddingsOnlyIsOffByDefaultAndSetByFileOrEnvironment) {
  testing::TempDir dir;
  auto defaults = LoadConfig(dir.path(), "");
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_FALSE(defaults->retention.embeddings_only);
  auto from_file =
      ConfigFromJson(nlohmann::json::parse(R"({"retention":{"embeddings_only":true}})"));
  ASSERT_TRUE(from_file.ok()) << from_file.status().ToString();
  EXPECT_TRUE(from_file->retention.embeddings_only);
  EXPECT_TRUE(RedactedConfig(*from_file)["retention"]["embeddings_only"].get<bool>());
  auto wrong = ConfigFromJson(nlohmann::json::parse(R"({"retention":{"embeddings_only":"yes"}})"));
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("retention.embeddings_only"), std::string::npos);
  setenv("CONCIERGE_RETENTION_EMBEDDINGS_ONLY", "1", 1);
  auto from_env = LoadConfig(dir.path(), "");
  unsetenv("CONCIERGE_RETENTION_EMBEDDINGS_ONLY");
  ASSERT_TRUE(from_env.ok()) << from_env.status().ToString();
  EXPECT_TRUE(from_env->retention.embeddings_only);
}

TEST(ConfigTest, SearchIndexSettingsAreChecked) {
  auto config = ConfigFromJson(
      nlohmann::json::parse(R"({"recognition":{"ann_min_faces":1000,"ann_ef_search":200,
                                               "ann_m":32,"ann_ef_construction":200}})"));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->recognition.ann_min_faces, 1000);
  EXPECT_EQ(config->recognition.ann_ef_search, 200);
  EXPECT_EQ(config->recognition.ann_m, 32);
  EXPECT_EQ(config->recognition.ann_ef_construction, 200);
  for (const char* bad : {R"({"recognition":{"ann_m":2}})", R"({"recognition":{"ann_m":65}})",
                          R"({"recognition":{"ann_ef_construction":5}})"}) {
    const auto refused = ConfigFromJson(nlohmann::json::parse(bad));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("recognition.ann_"), std::string::npos);
  }
  auto negative = ConfigFromJson(nlohmann::json::parse(R"({"recognition":{"ann_min_faces":-1}})"));
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("recognition.ann_min_faces"), std::string::npos);
  EXPECT_FALSE(
      ConfigFromJson(nlohmann::json::parse(R"({"recognition":{"ann_ef_search":0}})")).ok());
}

TEST(ConfigTest, ServerConcurrencyIsBounded) {
  auto config = ConfigFromJson(
      nlohmann::json::parse(R"({"serve":{"ingest_connections":64,"workers":4}})"));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->serve.ingest_connections, 64);
  EXPECT_EQ(config->serve.workers, 4);
  for (const char* bad :
       {R"({"serve":{"ingest_connections":0}})", R"({"serve":{"ingest_connections":100000}})",
        R"({"serve":{"workers":0}})", R"({"serve":{"workers":1000}})"}) {
    const auto refused = ConfigFromJson(nlohmann::json::parse(bad));
    ASSERT_FALSE(refused.ok()) << bad;
    EXPECT_NE(refused.status().message().find("serve."), std::string::npos);
  }
}

TEST(ConfigTest, UnknownKeyIsAnError) {
  auto config = ConfigFromJson(nlohmann::json::parse(R"({"recognition":{"treshold":0.5}})"));
  ASSERT_FALSE(config.ok());
  EXPECT_NE(config.status().message().find("recognition.treshold"), std::string::npos);
}

TEST(ConfigTest, WrongTypeAndBadJsonAreErrors) {
  EXPECT_FALSE(ConfigFromJson(nlohmann::json::parse(R"({"serve":{"workers":"two"}})")).ok());
  testing::TempDir dir;
  std::ofstream(dir.Sub("config.json")) << "{not json";
  auto config = LoadConfig(dir.path(), "");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), Status::Code::kInvalidArgument);
}

TEST(ConfigTest, AWrongTypeNamesTheKeyTheFileAndTheExpectedType) {
  testing::TempDir dir;
  std::ofstream(dir.Sub("config.json")) << R"({"serve":{"workers":"two"}})";
  auto config = LoadConfig(dir.path(), "");
  ASSERT_FALSE(config.ok());
  const std::string why = config.status().message();
  EXPECT_NE(why.find("'serve.workers'"), std::string::npos) << why;
  EXPECT_NE(why.find(dir.Sub("config.json")), std::string::npos) << why;
  EXPECT_NE(why.find("must be an integer, but is a string"), std::string::npos) << why;
  for (const char* doc : {R"({"vision":{"detect_threshold":"high"}})", R"({"http":{"enabled":1}})",
                          R"({"edge":{"cameras":[{"name":7}]}})", R"({"bus":[]})",
                          R"({"serve":{"workers":2.5}})"}) {
    auto bad = ConfigFromJson(nlohmann::json::parse(doc));
    ASSERT_FALSE(bad.ok()) << doc;
    EXPECT_NE(bad.status().message().find("config key '"), std::string::npos)
        << doc << ": " << bad.status().message();
  }
  EXPECT_TRUE(ConfigFromJson(nlohmann::json::parse(R"({"vision":{"detect_threshold":1}})")).ok());
}

TEST(ConfigTest, SecretsAreRedacted) {
  Config config;
  config.bus.mqtt.password = "hunter2";
  config.objects.s3_secret_key = "abc";
  const std::string dumped = RedactedConfig(config).dump();
  EXPECT_EQ(dumped.find("hunter2"), std::string::npos);
  EXPECT_EQ(dumped.find("\"abc\""), std::string::npos);
}

}  // namespace
}  // namespace concierge

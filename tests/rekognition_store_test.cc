// The stores behind the Rekognition-compatible API on a real SQLite file:
// access keys (secrets encrypted at rest, unreadable from the database alone,
// useless under another encryption secret, revocable) and the API's own
// records (collections, FaceIds, ClientRequestToken answers).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "store/access_keys.h"
#include "store/database.h"
#include "store/rekognition_store.h"
#include "support/test_env.h"

namespace concierge {
namespace {

constexpr char kSecret[] = "an encryption secret of at least 32 bytes";

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class RekognitionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 5000);
    ASSERT_OK(db);
    db_ = std::move(*db);
    accounts_ = NewSqliteAccountStore(db_.get());
  }
  testing::TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<AccountStore> accounts_;
};

TEST_F(RekognitionStoreTest, AccessKeysNeedALongEnoughEncryptionSecret) {
  for (const std::string& secret : {std::string(), std::string(31, 'x')}) {
    auto keys = AccessKeyStore::Open(accounts_.get(), secret);
    ASSERT_FALSE(keys.ok());
    EXPECT_EQ(keys.status().code(), Status::Code::kFailedPrecondition);
    EXPECT_NE(keys.status().message().find("aws.key_encryption_secret"), std::string::npos);
  }
  EXPECT_TRUE(AccessKeyStore::Open(accounts_.get(), std::string(32, 'x')).ok());
}

TEST_F(RekognitionStoreTest, SecretsAreEncryptedAtRestAndShownOnlyOnCreation) {
  auto keys = AccessKeyStore::Open(accounts_.get(), kSecret);
  ASSERT_OK(keys);
  auto created = (*keys)->Create("doorman lambda");
  ASSERT_OK(created);
  EXPECT_EQ(created->key.id.size(), 20u);
  EXPECT_EQ(created->key.id.rfind("AKCC", 0), 0u);
  EXPECT_EQ(created->secret_access_key.size(), 40u);
  auto second = (*keys)->Create("another");
  ASSERT_OK(second);
  EXPECT_NE(second->key.id, created->key.id);
  EXPECT_NE(second->secret_access_key, created->secret_access_key);

  auto secret = (*keys)->SecretFor(created->key.id);
  ASSERT_OK(secret);
  EXPECT_EQ(*secret, created->secret_access_key);

  auto listed = (*keys)->List();
  ASSERT_OK(listed);
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].name, "doorman lambda");
  EXPECT_GT((*listed)[1].last_used_ms, 0) << "the lookup above counts as a use";

  // Neither the database file nor its write-ahead log holds the secret.
  db_.reset();
  for (const char* file : {"concierge.db", "concierge.db-wal"})
    EXPECT_EQ(FileBytes(dir_.Sub(file)).find(created->secret_access_key), std::string::npos)
        << file;
}

TEST_F(RekognitionStoreTest, AnotherEncryptionSecretCannotReadTheKeys) {
  auto keys = AccessKeyStore::Open(accounts_.get(), kSecret);
  ASSERT_OK(keys);
  auto created = (*keys)->Create("k");
  ASSERT_OK(created);
  auto other = AccessKeyStore::Open(accounts_.get(), std::string(kSecret) + "!");
  ASSERT_OK(other);
  auto secret = (*other)->SecretFor(created->key.id);
  ASSERT_FALSE(secret.ok());
  EXPECT_EQ(secret.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(secret.status().message().find(created->secret_access_key), std::string::npos);
}

TEST_F(RekognitionStoreTest, ACiphertextMovedToAnotherKeyDoesNotDecrypt) {
  auto keys = AccessKeyStore::Open(accounts_.get(), kSecret);
  ASSERT_OK(keys);
  auto a = (*keys)->Create("a");
  auto b = (*keys)->Create("b");
  ASSERT_OK(a);
  ASSERT_OK(b);
  ASSERT_OK(db_->WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("UPDATE aws_access_keys SET secret_box = (SELECT secret_box FROM "
                               "aws_access_keys WHERE id = ?) WHERE id = ?"));
    return st.BindText(a->key.id).BindText(b->key.id).Run();
  }));
  EXPECT_EQ((*keys)->SecretFor(b->key.id).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE((*keys)->SecretFor(a->key.id).ok());
}

TEST_F(RekognitionStoreTest, RevokedAndUnknownKeysHaveNoSecret) {
  auto keys = AccessKeyStore::Open(accounts_.get(), kSecret);
  ASSERT_OK(keys);
  auto created = (*keys)->Create("k");
  ASSERT_OK(created);
  ASSERT_OK((*keys)->Revoke(created->key.id));
  EXPECT_EQ((*keys)->SecretFor(created->key.id).status().code(), Status::Code::kNotFound);
  EXPECT_EQ((*keys)->Revoke(created->key.id).code(), Status::Code::kNotFound);
  EXPECT_EQ((*keys)->SecretFor("AKCCNOSUCHKEY0000000").status().code(), Status::Code::kNotFound);
  auto listed = (*keys)->List();
  ASSERT_OK(listed);
  EXPECT_GT(listed->front().revoked_ms, 0);
  for (const std::string& bad : {std::string(), std::string(65, 'n'), std::string("tab\there")})
    EXPECT_EQ((*keys)->Create(bad).status().code(), Status::Code::kInvalidArgument) << bad;
}

TEST_F(RekognitionStoreTest, CollectionsFacesAndKeptAnswers) {
  RekognitionStore store(db_.get());
  ASSERT_OK(store.AddCollection("b", 2));
  ASSERT_OK(store.AddCollection("a", 1));
  EXPECT_EQ(store.AddCollection("a", 3).code(), Status::Code::kAlreadyExists);
  ASSERT_OK(store.EnsureCollection("a", 9));
  auto a = store.GetCollection("a");
  ASSERT_OK(a);
  ASSERT_TRUE(a->has_value());
  EXPECT_EQ((*a)->created_ms, 1);
  auto page = store.ListCollections("", 1);
  ASSERT_OK(page);
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ(page->front().id, "a");
  EXPECT_EQ(store.ListCollections("a", 5)->front().id, "b");

  IndexedFace face{"uuid-1", "a", 7, "image-1", "U1", 0.1f, 0.2f, 0.3f, 0.4f, 99.5f, 5};
  ASSERT_OK(store.PutFace(face));
  face.face_id = 8;  // the face moved to another row, keeping its FaceId
  ASSERT_OK(store.PutFace(face));
  EXPECT_FALSE(store.FaceByRow("a", 7)->has_value());
  ASSERT_TRUE(store.FaceByRow("a", 8)->has_value());
  EXPECT_EQ((*store.FaceByUuid("a", "uuid-1"))->face_id, 8);
  EXPECT_FALSE(store.FaceByUuid("b", "uuid-1")->has_value());
  EXPECT_EQ(store.FacesOfImage("a", "image-1")->size(), 1u);
  EXPECT_EQ(store.FacesOf("a")->size(), 1u);
  ASSERT_OK(store.RemoveCollection("a"));
  EXPECT_FALSE(store.GetCollection("a")->has_value());
  EXPECT_TRUE(store.FacesOf("a")->empty());

  ASSERT_OK(store.KeepResponse("CreateUser", "t1", {"sha", "{}"}, 1'000'000'000'000));
  auto kept = store.FindResponse("CreateUser", "t1");
  ASSERT_OK(kept);
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ((*kept)->request_sha, "sha");
  EXPECT_FALSE(store.FindResponse("DeleteUser", "t1")->has_value());
  // Answers are kept for a day.
  ASSERT_OK(store.KeepResponse("CreateUser", "t2", {"sha", "{}"}, 1'000'000'000'000 + 86'400'001));
  EXPECT_FALSE(store.FindResponse("CreateUser", "t1")->has_value());
}

}  // namespace
}  // namespace concierge

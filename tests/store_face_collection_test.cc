#include "store/face_collection.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "store/database.h"
#include "store/pg_face_repository.h"
#include "support/pg_fixture.h"
#include "support/store_backend.h"
#include "support/test_env.h"

namespace concierge {
namespace {

using ::concierge::testing::StoreBackend;
using ::concierge::testing::StoreBackendName;
using ::concierge::testing::TempDir;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// prefix + n, built by appending: GCC 12 warns falsely (-Wrestrict) on "p" + std::string.
std::string Id(const char* prefix, long n) {
  std::string id = prefix;
  id += std::to_string(n);
  return id;
}

Embedding RandomUnit(std::mt19937& rng, int dims) {
  std::normal_distribution<float> normal;
  Embedding v(static_cast<size_t>(dims));
  double norm2 = 0;
  for (auto& x : v) {
    x = normal(rng);
    norm2 += static_cast<double>(x) * x;
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(norm2));
  return v;
}

// `base` plus Gaussian noise of `sigma` per component, renormalised.
Embedding Near(std::mt19937& rng, const Embedding& base, float sigma) {
  std::normal_distribution<float> noise(0, sigma);
  Embedding v = base;
  double norm2 = 0;
  for (auto& x : v) {
    x += noise(rng);
    norm2 += static_cast<double>(x) * x;
  }
  for (auto& x : v) x = static_cast<float>(x / std::sqrt(norm2));
  return v;
}

// The test collections search with one model of this name.
constexpr char kModel[] = "test-model@000000000001";

std::vector<VectorSpace> Spaces(int dims) { return {{kModel, dims}}; }

// A probe or example of the test model.
Descriptor D(const Embedding& v) { return {{kModel, v}}; }

// The test model's vector of a stored face.
const Embedding& Vec(const FaceRecord& f) { return f.embeddings.at(0).vector; }

FaceRecord Face(const std::string& person, Embedding embedding, const std::string& image_key = "") {
  FaceRecord f;
  f.person_id = person;
  f.embeddings = D(embedding);
  f.image_key = image_key;
  return f;
}

// Every test runs on both repositories: SQLite in a temp dir, and a fresh
// database of one private PostgreSQL cluster per suite (initdb is slow).
class FaceCollectionTest : public ::testing::TestWithParam<StoreBackend> {
 protected:
  static void TearDownTestSuite() { testing::StopSharedPgCluster(); }

  void SetUp() override {
    if (GetParam() == StoreBackend::kPostgres) {
      REQUIRE_POSTGRES();
      pg_url_ = testing::NewSharedPgDatabase();
      ASSERT_FALSE(pg_url_.empty());
    }
    Reopen();
  }

  // Drops and reopens the database and the collection, as after a restart.
  void Reopen(int dims = kDims) {
    fc_.reset();
    db_.reset();
    if (GetParam() == StoreBackend::kSqlite) {
      auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 2000);
      ASSERT_TRUE(db.ok()) << db.status().ToString();
      db_ = std::move(db).value();
    }
    auto fc = OpenCollection("default", dims);
    ASSERT_TRUE(fc.ok()) << fc.status().ToString();
    fc_ = std::move(fc).value();
  }

  // Another collection object on the same store, as another process would
  // open it: for SQLite on its own connection.
  Result<std::unique_ptr<FaceCollection>> OpenCollection(const std::string& name, int dims,
                                                          SearchIndexOptions index = {}) {
    if (GetParam() == StoreBackend::kPostgres) {
      ASSIGN_OR_RETURN(auto repo, OpenPgFaceRepository(pg_url_, name));
      return FaceCollection::Open(std::move(repo), Spaces(dims), index);
    }
    if (!db_) return FaceCollection::Open(nullptr, name, Spaces(dims), index);
    if (fc_ == nullptr) return FaceCollection::Open(db_.get(), name, Spaces(dims), index);
    ASSIGN_OR_RETURN(auto db, Database::OpenSqlite(dir_.Sub("concierge.db"), 2000));
    other_dbs_.push_back(std::move(db));
    return FaceCollection::Open(other_dbs_.back().get(), name, Spaces(dims), index);
  }

  // Another process (its own collection object) enrols "visitor" with a
  // random face of kAnnDims and forgets `forgotten`.
  void EnrolVisitorAndForgetElsewhere(const std::string& collection, const std::string& forgotten,
                                      std::mt19937& rng, Embedding* visitor);

  void AddPersonOrDie(const std::string& id, const std::string& name = "") {
    const Status st = fc_->AddPerson({id, name.empty() ? "Name of " + id : name, "", 0});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  // The first column of the first row of `sql` (portable SQL), or -1.
  int64_t CountRows(const std::string& sql) {
    if (GetParam() == StoreBackend::kPostgres) {
      try {
        pqxx::connection c(pg_url_);
        pqxx::nontransaction tx(c);
        return tx.exec1(sql)[0].as<int64_t>();
      } catch (const std::exception&) {
        return -1;
      }
    }
    return db_->WithConnection([&](Connection& c) -> int64_t {
      auto st = c.Prepare(sql);
      if (!st.ok() || !st->Step().ok()) return -1;
      return st->ColumnInt(0);
    });
  }

  static constexpr int kDims = 32;
  TempDir dir_;
  std::string pg_url_;
  std::unique_ptr<Database> db_;
  std::vector<std::unique_ptr<Database>> other_dbs_;
  std::unique_ptr<FaceCollection> fc_;
};

CONCIERGE_ALL_STORE_BACKENDS(FaceCollectionTest);

// What only SQLite has: read-only files, file locks, several collections on one Database.
class SqliteFaceCollectionTest : public FaceCollectionTest {};
INSTANTIATE_TEST_SUITE_P(Sqlite, SqliteFaceCollectionTest,
                         ::testing::Values(StoreBackend::kSqlite), StoreBackendName);

// The test's own model of the collection: person -> unit embeddings by face id.
using Model = std::map<std::string, std::map<int64_t, Embedding>>;

double NaiveDot(const Embedding& a, const Embedding& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

// Brute-force reference search, in double precision.
std::vector<Match> NaiveSearch(const Model& model, const Embedding& probe, int k,
                               SearchMode mode) {
  std::vector<Match> all;
  for (const auto& [person, faces] : model) {
    if (faces.empty()) continue;
    Match m{person, -2, {}, 0};
    if (mode == SearchMode::kBestFace) {
      for (const auto& [id, v] : faces) {
        const double s = NaiveDot(v, probe);
        if (s > m.similarity) m = {person, static_cast<float>(s), {}, id};
      }
    } else {
      std::vector<double> mean(probe.size(), 0);
      for (const auto& [id, v] : faces)
        for (size_t i = 0; i < v.size(); ++i) mean[i] += v[i];
      double norm2 = 0;
      for (const double x : mean) norm2 += x * x;
      double s = 0;
      for (size_t i = 0; i < mean.size(); ++i) s += mean[i] / std::sqrt(norm2) * probe[i];
      m.similarity = static_cast<float>(s);
    }
    all.push_back(m);
  }
  std::sort(all.begin(), all.end(), [](const Match& a, const Match& b) {
    return a.similarity != b.similarity ? a.similarity > b.similarity : a.person_id < b.person_id;
  });
  if (all.size() > static_cast<size_t>(k)) all.resize(static_cast<size_t>(k));
  return all;
}

// Equal up to float rounding; neighbours whose scores nearly tie may swap.
// Scores within `tolerance` of the reference's; persons (and their best
// faces) in its order, but for near ties.
void ExpectSameMatches(const std::vector<Match>& got, const std::vector<Match>& want,
                       double tolerance = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i].similarity, want[i].similarity, tolerance) << "rank " << i;
    if (got[i].person_id == want[i].person_id) {
      // A person's two closest faces may swap within a wider tolerance.
      if (tolerance <= 1e-5) {
        EXPECT_EQ(got[i].face_id, want[i].face_id) << "rank " << i;
      }
      continue;
    }
    // At the last rank the reference's next person, unlisted, may be the tie.
    const double tie = 2 * tolerance;
    const bool near_tie =
        (i > 0 && std::abs(want[i - 1].similarity - want[i].similarity) < tie) ||
        (i + 1 < want.size() && std::abs(want[i + 1].similarity - want[i].similarity) < tie) ||
        (i + 1 == want.size() && std::abs(got[i].similarity - want[i].similarity) < tie);
    EXPECT_TRUE(near_tie) << "rank " << i << ": got " << got[i].person_id << " want "
                          << want[i].person_id;
  }
}

TEST_P(FaceCollectionTest, PersonCrud) {
  ASSERT_TRUE(fc_->AddPerson({"bob", "Bob", "", 0}).ok());
  ASSERT_TRUE(fc_->AddPerson({"alice", "", "U1", 42}).ok());
  EXPECT_EQ(fc_->person_count(), 2u);

  auto alice = fc_->GetPerson("alice");
  ASSERT_TRUE(alice.ok());
  EXPECT_EQ(alice->display_name, "alice");  // empty name defaults to the id
  EXPECT_EQ(alice->external_id, "U1");
  EXPECT_EQ(alice->created_ms, 42);
  EXPECT_GT(fc_->GetPerson("bob")->created_ms, 0);

  const Status dup = fc_->AddPerson({"bob", "Other Bob", "", 0});
  EXPECT_EQ(dup.code(), Status::Code::kAlreadyExists);
  const Status dup_ext = fc_->AddPerson({"carol", "Carol", "U1", 0});
  EXPECT_EQ(dup_ext.code(), Status::Code::kAlreadyExists);
  EXPECT_PRED2(Contains, dup_ext.message(), "alice");

  auto list = fc_->ListPersons();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].id, "alice");
  EXPECT_EQ((*list)[1].id, "bob");

  ASSERT_TRUE(fc_->RenamePerson("bob", "Robert").ok());
  EXPECT_EQ(fc_->GetPerson("bob")->display_name, "Robert");
  EXPECT_EQ(fc_->RenamePerson("bob", "").code(), Status::Code::kInvalidArgument);

  ASSERT_TRUE(fc_->SetExternalId("bob", "U2").ok());
  EXPECT_EQ(fc_->FindByExternalId("U2")->id, "bob");
  EXPECT_EQ(fc_->SetExternalId("bob", "U1").code(), Status::Code::kAlreadyExists);
  EXPECT_TRUE(fc_->SetExternalId("bob", "U2").ok());  // re-setting your own is fine
  ASSERT_TRUE(fc_->SetExternalId("alice", "").ok());
  EXPECT_EQ(fc_->FindByExternalId("U1").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->FindByExternalId("").status().code(), Status::Code::kInvalidArgument);

  Reopen();
  EXPECT_EQ(fc_->GetPerson("bob")->display_name, "Robert");
  EXPECT_EQ(fc_->FindByExternalId("U2")->id, "bob");
  EXPECT_EQ(fc_->GetPerson("alice")->external_id, "");
  EXPECT_EQ(fc_->GetPerson("alice")->created_ms, 42);
}

TEST_P(FaceCollectionTest, UnknownPersonIsNotFoundNamingTheId) {
  const auto get = fc_->GetPerson("nobody");
  EXPECT_EQ(get.status().code(), Status::Code::kNotFound);
  EXPECT_PRED2(Contains, get.status().message(), "nobody");
  EXPECT_EQ(fc_->RenamePerson("nobody", "X").code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->SetExternalId("nobody", "U9").code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->ListFaces("nobody").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->ForgetPerson("nobody").status().code(), Status::Code::kNotFound);
  std::mt19937 rng(1);
  const auto add = fc_->AddFace(Face("nobody", RandomUnit(rng, kDims)));
  EXPECT_EQ(add.status().code(), Status::Code::kNotFound);
  EXPECT_PRED2(Contains, add.status().message(), "nobody");
  EXPECT_EQ(fc_->size(), 0u);
}

TEST_P(FaceCollectionTest, BadIdsAndTextAreRejected) {
  for (const std::string& id :
       std::vector<std::string>{"", ".", "..", "a/b", "a b", "../x", std::string(129, 'a')})
    EXPECT_EQ(fc_->AddPerson({id, "Name", "", 0}).code(), Status::Code::kInvalidArgument) << id;
  EXPECT_EQ(fc_->AddPerson({"ok", "bad\nname", "", 0}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(fc_->person_count(), 0u);
  EXPECT_EQ(OpenCollection("bad/name", kDims).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(OpenCollection("c", 0).status().code(), Status::Code::kInvalidArgument);
}

TEST_P(FaceCollectionTest, BadEmbeddingsAreInvalidArgument) {
  AddPersonOrDie("alice");
  std::mt19937 rng(2);
  const auto wrong_dims = fc_->AddFace(Face("alice", RandomUnit(rng, kDims + 1)));
  EXPECT_EQ(wrong_dims.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(fc_->AddFace(Face("alice", Embedding(kDims, 0.f))).status().code(),
            Status::Code::kInvalidArgument);
  Embedding nan = RandomUnit(rng, kDims);
  nan[3] = std::nanf("");
  EXPECT_EQ(fc_->AddFace(Face("alice", nan)).status().code(), Status::Code::kInvalidArgument);
  FaceRecord other = Face("alice", RandomUnit(rng, kDims));
  other.collection = "other";
  EXPECT_EQ(fc_->AddFace(other).status().code(), Status::Code::kInvalidArgument);
  // A batch with one bad face adds nothing.
  const auto batch =
      fc_->AddFaces({Face("alice", RandomUnit(rng, kDims)), Face("alice", Embedding(3, 1.f))});
  EXPECT_EQ(batch.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(fc_->size(), 0u);
  EXPECT_EQ(CountRows("SELECT count(*) FROM faces"), 0);
}

TEST_P(FaceCollectionTest, AddFaceStoresAUnitVectorAndAllFields) {
  AddPersonOrDie("alice");
  Embedding raw(kDims, 0.f);
  raw[0] = 3;
  raw[1] = 4;
  FaceRecord face = Face("alice", raw, "known/alice/1.jpg");
  face.quality = 0.75f;
  face.origin = FaceOrigin::kTagged;
  face.created_ms = 1234;
  auto id = fc_->AddFace(face);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(fc_->size(), 1u);

  auto faces = fc_->ListFaces("alice");
  ASSERT_TRUE(faces.ok());
  ASSERT_EQ(faces->size(), 1u);
  const FaceRecord& f = faces->front();
  EXPECT_EQ(f.id, *id);
  EXPECT_EQ(f.person_id, "alice");
  EXPECT_EQ(f.collection, "default");
  EXPECT_EQ(f.image_key, "known/alice/1.jpg");
  EXPECT_FLOAT_EQ(f.quality, 0.75f);
  EXPECT_EQ(f.origin, FaceOrigin::kTagged);
  EXPECT_EQ(f.created_ms, 1234);
  ASSERT_EQ(Vec(f).size(), static_cast<size_t>(kDims));
  EXPECT_NEAR(Vec(f)[0], 0.6f, 1e-6);
  EXPECT_NEAR(Vec(f)[1], 0.8f, 1e-6);

  const auto hits = fc_->Search(D(raw), 5, SearchMode::kBestFace);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].person_id, "alice");
  EXPECT_EQ(hits[0].face_id, *id);
  EXPECT_NEAR(hits[0].similarity, 1.f, 1e-6);
  const auto centroid = fc_->Search(D(raw), 5, SearchMode::kCentroid);
  ASSERT_EQ(centroid.size(), 1u);
  EXPECT_EQ(centroid[0].face_id, 0);
  EXPECT_NEAR(centroid[0].similarity, 1.f, 1e-6);
}

TEST_P(FaceCollectionTest, PreferencesAreStoredAndSeenByOthersAndAfterARestart) {
  AddPersonOrDie("ana");
  AddPersonOrDie("bo");
  PersonPreferences wanted;
  wanted.greeting = PersonPreferences::Greeting::kOncePerDay;
  wanted.alerts = PersonPreferences::Alerts::kStrangers;
  wanted.host = "ana";
  ASSERT_TRUE(fc_->SetPreferences("bo", wanted).ok());
  EXPECT_EQ(fc_->GetPerson("bo")->preferences, wanted);
  EXPECT_EQ(fc_->SetPreferences("bo", {.host = "bo"}).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(fc_->SetPreferences("bo", {.host = "ghost"}).code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->SetPreferences("ghost", {}).code(), Status::Code::kNotFound);
  // A rename keeps them.
  ASSERT_TRUE(fc_->RenamePerson("bo", "Bo B.").ok());
  auto other = OpenCollection("default", kDims);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->GetPerson("bo")->preferences, wanted);
  Reopen();
  EXPECT_EQ(fc_->GetPerson("bo")->preferences, wanted);
  EXPECT_EQ(fc_->GetPerson("ana")->preferences, PersonPreferences());
}

TEST_P(FaceCollectionTest, MergeGivesEveryFaceAndNegativeToTheSurvivorAtOnce) {
  AddPersonOrDie("obama");
  AddPersonOrDie("barack");
  std::mt19937 rng(11);
  const Embedding a = RandomUnit(rng, kDims), b = RandomUnit(rng, kDims);
  ASSERT_TRUE(fc_->AddFaces({Face("obama", a, "faces/obama/1.jpg"),
                             Face("barack", b, "faces/barack/2.jpg")})
                  .ok());
  ASSERT_TRUE(fc_->AddNegative("barack", D(RandomUnit(rng, kDims)), "s-1").ok());
  ASSERT_TRUE(fc_->SetExternalId("barack", "U0BARACK").ok());

  // A missing person or merging into oneself changes nothing.
  EXPECT_EQ(fc_->MergePerson("ghost", "obama", {}).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->MergePerson("barack", "ghost", {}).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->MergePerson("obama", "obama", {}).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(fc_->ListFaces("barack")->size(), 1u);

  auto moved = fc_->MergePerson("barack", "obama", {{"faces/barack/2.jpg", "faces/obama/2.jpg"}});
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(*moved, 1);
  EXPECT_EQ(fc_->GetPerson("barack").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->GetPerson("obama")->external_id, "U0BARACK");  // obama had none
  auto faces = fc_->ListFaces("obama");
  ASSERT_TRUE(faces.ok());
  ASSERT_EQ(faces->size(), 2u);
  EXPECT_EQ((*faces)[1].image_key, "faces/obama/2.jpg");
  auto negatives = fc_->ListNegatives();
  ASSERT_TRUE(negatives.ok());
  ASSERT_EQ(negatives->size(), 1u);
  EXPECT_EQ(negatives->front().person_id, "obama");
  EXPECT_EQ(fc_->Search(D(b), 1, SearchMode::kBestFace)[0].person_id, "obama");

  // Another process sees the same after a refresh, and so does a restart.
  auto other = OpenCollection("default", kDims);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->Search(D(b), 1, SearchMode::kBestFace)[0].person_id, "obama");
  Reopen();
  EXPECT_EQ(fc_->ListFaces("obama")->size(), 2u);
  EXPECT_EQ(CountRows("SELECT COUNT(*) FROM persons WHERE id = 'barack'"), 0);
}

TEST_P(FaceCollectionTest, DeleteFaceRemovesItFromDatabaseAndSearch) {
  AddPersonOrDie("alice");
  AddPersonOrDie("bob");
  std::mt19937 rng(3);
  const Embedding a1 = RandomUnit(rng, kDims), a2 = RandomUnit(rng, kDims);
  const Embedding b1 = RandomUnit(rng, kDims);
  auto ids = fc_->AddFaces({Face("alice", a1), Face("bob", b1), Face("alice", a2)});
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_EQ(fc_->Search(D(a1), 1, SearchMode::kBestFace)[0].face_id, (*ids)[0]);

  ASSERT_TRUE(fc_->DeleteFace((*ids)[0]).ok());
  EXPECT_EQ(fc_->size(), 2u);
  EXPECT_EQ(fc_->DeleteFace((*ids)[0]).code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->ListFaces("alice")->size(), 1u);
  // Alice is now represented only by a2, in both modes.
  Model model = {{"alice", {{(*ids)[2], a2}}}, {"bob", {{(*ids)[1], b1}}}};
  for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid})
    ExpectSameMatches(fc_->Search(D(a1), 5, mode), NaiveSearch(model, a1, 5, mode));

  // A face of another collection in the same database cannot be deleted from here.
  auto other = OpenCollection("other", kDims);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->AddPerson({"alice", "Alice", "", 0}).ok());
  auto foreign = (*other)->AddFace(Face("alice", a1));
  ASSERT_TRUE(foreign.ok());
  EXPECT_EQ(fc_->DeleteFace(*foreign).code(), Status::Code::kNotFound);
  EXPECT_EQ((*other)->size(), 1u);

  ASSERT_TRUE(fc_->DeleteFace((*ids)[2]).ok());
  // A person without faces is never a match.
  for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid}) {
    const auto hits = fc_->Search(D(a2), 5, mode);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].person_id, "bob");
  }
}

TEST_P(FaceCollectionTest, ForgetPersonRemovesFacesFromDatabaseAndMemory) {
  AddPersonOrDie("alice");
  AddPersonOrDie("bob");
  std::mt19937 rng(4);
  const Embedding a = RandomUnit(rng, kDims);
  ASSERT_TRUE(fc_->AddFaces({Face("alice", a, "known/alice/2.jpg"),
                             Face("alice", Near(rng, a, 0.05f), "known/alice/1.jpg"),
                             Face("alice", Near(rng, a, 0.05f), "known/alice/1.jpg"),
                             Face("alice", Near(rng, a, 0.05f)),
                             Face("bob", RandomUnit(rng, kDims), "known/bob/1.jpg")})
                  .ok());
  ASSERT_EQ(fc_->size(), 5u);

  auto keys = fc_->ForgetPerson("alice");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::vector<std::string>{"known/alice/1.jpg", "known/alice/2.jpg"}));
  EXPECT_EQ(fc_->size(), 1u);
  EXPECT_EQ(fc_->person_count(), 1u);
  EXPECT_EQ(fc_->GetPerson("alice").status().code(), Status::Code::kNotFound);
  EXPECT_EQ(CountRows("SELECT count(*) FROM faces WHERE person_id = 'alice'"), 0);
  EXPECT_EQ(CountRows("SELECT count(*) FROM persons WHERE id = 'alice'"), 0);
  for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid}) {
    const auto hits = fc_->Search(D(a), 5, mode);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].person_id, "bob");
  }
  Reopen();
  EXPECT_EQ(fc_->size(), 1u);
  EXPECT_EQ(fc_->GetPerson("alice").status().code(), Status::Code::kNotFound);
  // The id can be reused afresh.
  AddPersonOrDie("alice");
  EXPECT_TRUE(fc_->ListFaces("alice")->empty());
}

TEST_P(FaceCollectionTest, SearchEqualsBruteForceOnRandomData) {
  constexpr int kDim = 128, kPersons = 200, kFaces = 2000, kProbes = 50;
  Reopen(kDim);
  std::mt19937 rng(5);
  Model model;
  std::vector<Embedding> anchors;
  for (int p = 0; p < kPersons; ++p) {
    AddPersonOrDie(Id("p", p));
    anchors.push_back(RandomUnit(rng, kDim));
  }
  std::vector<FaceRecord> faces;
  for (int i = 0; i < kFaces; ++i) {
    const int p = static_cast<int>(rng() % kPersons);
    // Half the faces cluster around their person, half are pure noise.
    faces.push_back(Face(Id("p", p),
                         i % 2 ? Near(rng, anchors[static_cast<size_t>(p)], 0.08f)
                               : RandomUnit(rng, kDim)));
  }
  auto ids = fc_->AddFaces(faces);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  for (size_t i = 0; i < faces.size(); ++i)
    model[faces[i].person_id][(*ids)[i]] = Vec(faces[i]);

  // Exercise the swap-remove paths before comparing.
  for (int i = 0; i < 100; ++i) {
    const int64_t id = (*ids)[rng() % ids->size()];
    for (auto& [person, pf] : model)
      if (pf.erase(id)) {
        ASSERT_TRUE(fc_->DeleteFace(id).ok());
      }
  }
  for (const std::string gone : {"p7", "p199", "p0"}) {
    ASSERT_TRUE(fc_->ForgetPerson(gone).ok());
    model.erase(gone);
  }
  size_t remaining = 0;
  for (const auto& [person, pf] : model) remaining += pf.size();
  ASSERT_EQ(fc_->size(), remaining);

  for (int q = 0; q < kProbes; ++q) {
    const Embedding probe = q % 2 ? Near(rng, anchors[rng() % kPersons], 0.1f)
                                  : RandomUnit(rng, kDim);
    for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid}) {
      SCOPED_TRACE(::testing::Message() << "probe " << q << " mode " << static_cast<int>(mode));
      ExpectSameMatches(fc_->Search(D(probe), 10, mode), NaiveSearch(model, probe, 10, mode));
      ExpectSameMatches(fc_->Search(D(probe), 1, mode), NaiveSearch(model, probe, 1, mode));
    }
  }
  // k larger than the population returns every person with faces.
  const auto all = fc_->Search(D(anchors[1]), 10000, SearchMode::kCentroid);
  size_t with_faces = 0;
  for (const auto& [person, pf] : model) with_faces += pf.empty() ? 0 : 1;
  EXPECT_EQ(all.size(), with_faces);
}

TEST_P(FaceCollectionTest, SearchResultsAreIdenticalAfterReopen) {
  constexpr int kDim = 64;
  Reopen(kDim);
  std::mt19937 rng(6);
  for (int p = 0; p < 30; ++p) AddPersonOrDie(Id("p", p));
  std::vector<FaceRecord> faces;
  for (int i = 0; i < 300; ++i)
    faces.push_back(Face(Id("p", rng() % 30), RandomUnit(rng, kDim)));
  ASSERT_TRUE(fc_->AddFaces(faces).ok());
  std::vector<Embedding> probes;
  for (int q = 0; q < 20; ++q) probes.push_back(RandomUnit(rng, kDim));
  std::vector<std::vector<Match>> before;
  for (const auto& probe : probes)
    for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid})
      before.push_back(fc_->Search(D(probe), 8, mode));

  Reopen(kDim);
  EXPECT_EQ(fc_->size(), 300u);
  EXPECT_EQ(fc_->person_count(), 30u);
  size_t i = 0;
  for (const auto& probe : probes) {
    for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid}) {
      const auto after = fc_->Search(D(probe), 8, mode);
      ASSERT_EQ(after.size(), before[i].size());
      for (size_t r = 0; r < after.size(); ++r) {
        EXPECT_EQ(after[r].person_id, before[i][r].person_id);
        EXPECT_EQ(after[r].face_id, before[i][r].face_id);
        EXPECT_FLOAT_EQ(after[r].similarity, before[i][r].similarity);
      }
      ++i;
    }
  }
}

TEST_P(FaceCollectionTest, SearchEdgeCases) {
  std::mt19937 rng(7);
  const Embedding probe = RandomUnit(rng, kDims);
  EXPECT_TRUE(fc_->Search(D(probe), 5, SearchMode::kBestFace).empty());  // empty collection
  AddPersonOrDie("alice");
  AddPersonOrDie("nofaces");
  ASSERT_TRUE(fc_->AddFace(Face("alice", RandomUnit(rng, kDims))).ok());
  EXPECT_TRUE(fc_->Search(D(probe), 0, SearchMode::kBestFace).empty());
  EXPECT_TRUE(fc_->Search(D(probe), -1, SearchMode::kBestFace).empty());
  EXPECT_TRUE(fc_->Search(D(Embedding(kDims + 1, 0.1f)), 5, SearchMode::kBestFace).empty());
  EXPECT_TRUE(fc_->Search(D(Embedding(kDims, 0.f)), 5, SearchMode::kCentroid).empty());
  Embedding inf = probe;
  inf[0] = INFINITY;
  EXPECT_TRUE(fc_->Search(D(inf), 5, SearchMode::kBestFace).empty());
  // An unnormalised probe scores like its unit vector.
  Embedding scaled = probe;
  for (auto& x : scaled) x *= 7;
  EXPECT_NEAR(fc_->Search(D(scaled), 5, SearchMode::kBestFace)[0].similarity,
              fc_->Search(D(probe), 5, SearchMode::kBestFace)[0].similarity, 1e-6);
  const auto hits = fc_->Search(D(probe), 5, SearchMode::kCentroid);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].person_id, "alice");
}

TEST_P(FaceCollectionTest, ParseSearchMode) {
  EXPECT_EQ(*ParseSearchMode("best"), SearchMode::kBestFace);
  EXPECT_EQ(*ParseSearchMode("centroid"), SearchMode::kCentroid);
  const auto bad = ParseSearchMode("fastest");
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument);
  EXPECT_PRED2(Contains, bad.status().message(), "fastest");
}

TEST_P(FaceCollectionTest, CollectionsInOneDatabaseAreIndependent) {
  AddPersonOrDie("alice");
  std::mt19937 rng(8);
  ASSERT_TRUE(fc_->AddFace(Face("alice", RandomUnit(rng, kDims))).ok());
  auto other = OpenCollection("office2", kDims);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*other)->size(), 0u);
  EXPECT_EQ((*other)->GetPerson("alice").status().code(), Status::Code::kNotFound);
  ASSERT_TRUE((*other)->AddPerson({"alice", "Other Alice", "", 0}).ok());
  ASSERT_TRUE((*other)->ForgetPerson("alice").ok());
  EXPECT_EQ(fc_->size(), 1u);
  EXPECT_EQ(CountRows("SELECT count(*) FROM faces"), 1);
}

// A reopened collection streams its faces from the store (PostgreSQL in
// pages of 1,000 faces): every face with every model's vector comes back
// once, whole, and faces lacking one wait for a reindex.
TEST_P(FaceCollectionTest, ReopenStreamsEveryFaceOfSeveralModelsAcrossPages) {
  const std::vector<VectorSpace> one{{kModel, kDims}};
  const std::vector<VectorSpace> two{{kModel, kDims}, {"second@000000000003", 3}};
  auto open = [&](const std::vector<VectorSpace>& spaces) {
    return GetParam() == StoreBackend::kPostgres
               ? FaceCollection::Open(std::move(OpenPgFaceRepository(pg_url_, "paged")).value(), spaces)
               : FaceCollection::Open(db_.get(), "paged", spaces);
  };
  std::mt19937 rng(33);
  constexpr int kPersons = 40, kFaces = 2345, kOnePerModel = 150;
  std::vector<Embedding> second;
  {
    auto fc = open(two);
    ASSERT_TRUE(fc.ok()) << fc.status().ToString();
    for (int p = 0; p < kPersons; ++p) ASSERT_TRUE((*fc)->AddPerson({Id("p", p), "", "", 0}).ok());
    std::vector<FaceRecord> faces;
    for (int i = 0; i < kFaces; ++i) {
      FaceRecord f = Face(Id("p", i % kPersons), RandomUnit(rng, kDims));
      second.push_back(RandomUnit(rng, 3));
      f.embeddings.push_back({two[1].model, second.back()});
      faces.push_back(std::move(f));
    }
    ASSERT_TRUE((*fc)->AddFaces(faces).ok());
  }
  {
    auto fc = open(one);  // faces of the primary model only
    ASSERT_TRUE(fc.ok()) << fc.status().ToString();
    std::vector<FaceRecord> faces;
    for (int i = 0; i < kOnePerModel; ++i) faces.push_back(Face(Id("p", i % kPersons), RandomUnit(rng, kDims)));
    ASSERT_TRUE((*fc)->AddFaces(faces).ok());
  }
  auto fc = open(two);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  EXPECT_EQ((*fc)->size(), static_cast<size_t>(kFaces));
  EXPECT_EQ((*fc)->stale_faces(), static_cast<size_t>(kOnePerModel));
  EXPECT_EQ((*fc)->person_count(), static_cast<size_t>(kPersons));
  auto all = (*fc)->ListAllFaces();
  ASSERT_TRUE(all.ok());
  // Each stored face's vectors are found again under its own id and person.
  size_t checked = 0;
  for (const FaceRecord& face : *all) {
    if (face.embeddings.size() != 2) continue;
    const auto hits = (*fc)->Search(face.embeddings, 1, SearchMode::kBestFace);
    ASSERT_FALSE(hits.empty());
    EXPECT_EQ(hits[0].face_id, face.id);
    EXPECT_EQ(hits[0].person_id, face.person_id);
    ASSERT_EQ(hits[0].scores.size(), 2u);
    EXPECT_NEAR(hits[0].scores[1], 1.f, 1e-5);
    if (++checked == 1200) break;  // past the first page
  }
  EXPECT_EQ(checked, 1200u);
}

TEST_P(FaceCollectionTest, FacesOfAnotherModelWaitForAReindex) {
  AddPersonOrDie("alice");
  std::mt19937 rng(9);
  const Embedding a = RandomUnit(rng, kDims);
  ASSERT_TRUE(fc_->AddFace(Face("alice", a, "faces/alice/1.jpg")).ok());
  // The pack changed: the collection now searches with another model.
  const std::vector<VectorSpace> next{{"next-model@000000000002", kDims * 2}};
  fc_.reset();
  auto reopened =
      GetParam() == StoreBackend::kPostgres
          ? FaceCollection::Open(std::move(OpenPgFaceRepository(pg_url_, "default")).value(), next)
          : FaceCollection::Open(db_.get(), "default", next);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto& fc = **reopened;
  EXPECT_EQ(fc.size(), 0u);
  EXPECT_EQ(fc.stale_faces(), 1u);
  const Embedding b = RandomUnit(rng, kDims * 2);
  EXPECT_TRUE(fc.Search({{next[0].model, b}}, 1, SearchMode::kBestFace).empty());

  auto all = fc.ListAllFaces();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ(all->front().embeddings.front().model, kModel);
  EXPECT_EQ(fc.ReplaceEmbeddings(all->front(), D(a)).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(fc.ReplaceEmbeddings(all->front(), {{next[0].model, b}}).ok());
  EXPECT_EQ(fc.size(), 1u);
  EXPECT_EQ(fc.stale_faces(), 0u);
  EXPECT_EQ(fc.Search({{next[0].model, b}}, 1, SearchMode::kCentroid)[0].person_id, "alice");
  auto after = fc.ListFaces("alice");
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->front().embeddings.size(), 1u);  // the old model's vector is gone
  EXPECT_EQ(after->front().embeddings.front().model, next[0].model);
  EXPECT_EQ(after->front().image_key, "faces/alice/1.jpg");
}

TEST_P(FaceCollectionTest, SeveralModelsAreStoredSearchedAndVetoedTogether) {
  const std::vector<VectorSpace> two{{kModel, kDims}, {"second@000000000003", 3}};
  auto fc = GetParam() == StoreBackend::kPostgres
                ? FaceCollection::Open(std::move(OpenPgFaceRepository(pg_url_, "two")).value(), two)
                : FaceCollection::Open(db_.get(), "two", two);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  ASSERT_TRUE((*fc)->AddPerson({"alice", "Alice", "", 0}).ok());
  ASSERT_TRUE((*fc)->AddPerson({"bob", "Bob", "", 0}).ok());
  std::mt19937 rng(21);
  const Embedding a = RandomUnit(rng, kDims), b = RandomUnit(rng, kDims);
  FaceRecord only_primary = Face("alice", a);
  const Status missing = (*fc)->AddFace(only_primary).status();
  EXPECT_EQ(missing.code(), Status::Code::kInvalidArgument);
  EXPECT_PRED2(Contains, missing.message(), "second@000000000003");
  FaceRecord alice = Face("alice", a);
  alice.embeddings.push_back({two[1].model, {1, 0, 0}});
  FaceRecord bob = Face("bob", b);
  bob.embeddings.push_back({two[1].model, {0, 1, 0}});
  ASSERT_TRUE((*fc)->AddFaces({alice, bob}).ok());
  const uint64_t generation = (*fc)->generation();

  // Ranked by the primary model; every model the probe has is scored.
  auto hits = (*fc)->Search({{kModel, a}, {two[1].model, {0, 1, 0}}}, 2, SearchMode::kCentroid);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].person_id, "alice");
  ASSERT_EQ(hits[0].scores.size(), 2u);
  EXPECT_NEAR(hits[0].scores[0], 1.f, 1e-5);
  EXPECT_NEAR(hits[0].scores[1], 0.f, 1e-5);
  EXPECT_NEAR(hits[1].scores[1], 1.f, 1e-5);
  hits = (*fc)->Search(D(a), 1, SearchMode::kCentroid);
  EXPECT_TRUE(std::isnan(hits[0].scores[1]));
  EXPECT_TRUE((*fc)->Search({{two[1].model, {1, 0, 0}}}, 1, SearchMode::kCentroid).empty());

  // A "not me" example keeps a vector per model and vetoes by the primary one.
  ASSERT_TRUE((*fc)->AddNegative("alice", {{kModel, a}, {two[1].model, {1, 0, 0}}}, "s-1").ok());
  EXPECT_GT((*fc)->generation(), generation);
  EXPECT_EQ((*fc)->Search(D(a), 1, SearchMode::kBestFace)[0].person_id, "bob");
  auto negatives = (*fc)->ListNegatives();
  ASSERT_TRUE(negatives.ok());
  EXPECT_EQ(negatives->size(), 2u);

  // Calibration material: each face against the other person, in both models.
  const auto impostors = (*fc)->ImpostorScores(100, SearchMode::kCentroid);
  ASSERT_EQ(impostors.size(), 2u);
  for (const auto& i : impostors) EXPECT_NEAR(i.scores[1], 0.f, 1e-5);
  const auto look = (*fc)->LookAlikes();
  ASSERT_EQ(look.size(), 2u);
  EXPECT_EQ(look[0].person_id, "alice");
  EXPECT_EQ(look[0].other_id, "bob");
  EXPECT_NEAR(look[0].similarity, NaiveDot(a, b), 1e-5);
}

TEST_P(SqliteFaceCollectionTest, ReadOnlyDatabaseServesSearchAndFailsWritesCleanly) {
  AddPersonOrDie("alice");
  std::mt19937 rng(10);
  const Embedding a = RandomUnit(rng, kDims);
  ASSERT_TRUE(fc_->AddFace(Face("alice", a, "known/alice/1.jpg")).ok());
  fc_.reset();
  db_.reset();

  auto ro = Database::OpenSqlite(dir_.Sub("concierge.db"), 100, Database::Access::kReadOnly);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  auto fc = FaceCollection::Open(ro->get(), "default", Spaces(kDims));
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  EXPECT_EQ((*fc)->Search(D(a), 1, SearchMode::kBestFace)[0].person_id, "alice");

  const Status add = (*fc)->AddPerson({"bob", "Bob", "", 0});
  EXPECT_EQ(add.code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, add.message(), "database is read-only");
  EXPECT_EQ((*fc)->GetPerson("bob").status().code(), Status::Code::kNotFound);
  EXPECT_EQ((*fc)->AddFace(Face("alice", a)).status().code(), Status::Code::kIoError);
  EXPECT_EQ((*fc)->ForgetPerson("alice").status().code(), Status::Code::kIoError);
  EXPECT_EQ((*fc)->RenamePerson("alice", "Al").code(), Status::Code::kIoError);
  // Memory is exactly as before the failed writes.
  EXPECT_EQ((*fc)->size(), 1u);
  EXPECT_EQ((*fc)->person_count(), 1u);
  EXPECT_EQ((*fc)->GetPerson("alice")->display_name, "Name of alice");
  EXPECT_EQ((*fc)->Search(D(a), 1, SearchMode::kCentroid)[0].person_id, "alice");
  // A collection that does not exist yet cannot be created read-only.
  EXPECT_EQ(FaceCollection::Open(ro->get(), "new", Spaces(kDims)).status().code(),
            Status::Code::kIoError);
}

TEST_P(SqliteFaceCollectionTest, LockedDatabaseLeavesMemoryUntouched) {
  fc_.reset();
  db_.reset();
  auto db = Database::OpenSqlite(dir_.Sub("concierge.db"), 100);
  ASSERT_TRUE(db.ok());
  db_ = std::move(db).value();
  auto fc = FaceCollection::Open(db_.get(), "default", Spaces(kDims));
  ASSERT_TRUE(fc.ok());
  fc_ = std::move(fc).value();
  AddPersonOrDie("alice");
  std::mt19937 rng(11);
  const Embedding a = RandomUnit(rng, kDims);

  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.Sub("concierge.db").c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  const auto add = fc_->AddFace(Face("alice", a));
  EXPECT_EQ(add.status().code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, add.status().message(), "database is locked");
  EXPECT_EQ(fc_->size(), 0u);
  EXPECT_EQ(fc_->ForgetPerson("alice").status().code(), Status::Code::kIoError);
  EXPECT_TRUE(fc_->GetPerson("alice").ok());
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(fc_->AddFace(Face("alice", a)).ok());
  EXPECT_EQ(fc_->size(), 1u);
}

TEST_P(FaceCollectionTest, NegativeVetoesThePersonOnlyWhereItIsAtLeastAsClose) {
  AddPersonOrDie("alice");
  AddPersonOrDie("bob");
  std::mt19937 rng(14);
  const Embedding a = RandomUnit(rng, kDims), b = RandomUnit(rng, kDims);
  ASSERT_TRUE(fc_->AddFaces({Face("alice", a), Face("bob", b)}).ok());
  // A stranger who looks like alice: without a negative, alice is the top hit.
  const Embedding stranger = Near(rng, a, 0.15f);
  ASSERT_EQ(fc_->Search(D(stranger), 1, SearchMode::kBestFace)[0].person_id, "alice");

  ASSERT_TRUE(fc_->AddNegative("alice", D(stranger), "s-1").ok());
  EXPECT_EQ(fc_->negative_count(), 1u);
  for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid}) {
    const auto hits = fc_->Search(D(stranger), 5, mode);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].person_id, "bob");
    // Alice's own face is still closer to her than to the negative.
    EXPECT_EQ(fc_->Search(D(a), 1, mode)[0].person_id, "alice");
  }
  EXPECT_EQ(CountRows("SELECT count(*) FROM face_negatives WHERE person_id = 'alice' AND "
                      "sighting_id = 's-1'"),
            1);

  Reopen();
  EXPECT_EQ(fc_->negative_count(), 1u);
  EXPECT_EQ(fc_->Search(D(stranger), 1, SearchMode::kBestFace)[0].person_id, "bob");
  EXPECT_EQ(fc_->Search(D(a), 1, SearchMode::kBestFace)[0].person_id, "alice");
}

TEST_P(FaceCollectionTest, NegativesAreCheckedAndGoWithThePerson) {
  AddPersonOrDie("alice");
  AddPersonOrDie("bob");
  AddPersonOrDie("carol");
  std::mt19937 rng(15);
  const Embedding b = RandomUnit(rng, kDims), c = RandomUnit(rng, kDims);
  ASSERT_TRUE(fc_->AddFaces({Face("alice", RandomUnit(rng, kDims)), Face("bob", b),
                             Face("carol", c)})
                  .ok());
  EXPECT_EQ(fc_->AddNegative("nobody", D(b), "").code(), Status::Code::kNotFound);
  EXPECT_EQ(fc_->AddNegative("bob", D(Embedding(kDims, 0.f)), "").code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(fc_->AddNegative("bob", D(Embedding(3, 1.f)), "").code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(fc_->negative_count(), 0u);

  // Alice's negative is carol's face; bob's is his own face (he is never returned).
  ASSERT_TRUE(fc_->AddNegative("alice", D(c), "s-1").ok());
  ASSERT_TRUE(fc_->AddNegative("bob", D(b), "s-2").ok());
  for (const auto& hit : fc_->Search(D(b), 3, SearchMode::kBestFace))
    EXPECT_NE(hit.person_id, "bob");
  for (const auto& hit : fc_->Search(D(c), 3, SearchMode::kBestFace))
    EXPECT_NE(hit.person_id, "alice");
  // Forgetting alice (not the last person) moves carol's slot; bob's veto stays his.
  ASSERT_TRUE(fc_->ForgetPerson("alice").ok());
  EXPECT_EQ(fc_->negative_count(), 1u);
  EXPECT_EQ(CountRows("SELECT count(*) FROM face_negatives"), 1);
  const auto hits = fc_->Search(D(b), 3, SearchMode::kBestFace);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].person_id, "carol");
  EXPECT_EQ(fc_->Search(D(c), 1, SearchMode::kBestFace)[0].person_id, "carol");
  ASSERT_TRUE(fc_->ForgetPerson("bob").ok());
  EXPECT_EQ(fc_->negative_count(), 0u);
  EXPECT_EQ(CountRows("SELECT count(*) FROM face_negatives"), 0);
}

TEST_P(FaceCollectionTest, RefreshSeesAnotherWritersChanges) {
  AddPersonOrDie("alice");
  std::mt19937 rng(16);
  const Embedding a = RandomUnit(rng, kDims), b = RandomUnit(rng, kDims);
  ASSERT_TRUE(fc_->AddFace(Face("alice", a)).ok());
  auto refreshed = fc_->Refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.status().ToString();
  EXPECT_FALSE(*refreshed) << "own writes are mirrored already";

  // Another process: its own connection and collection on the same store.
  auto other = OpenCollection("default", kDims);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ASSERT_TRUE((*other)->AddPerson({"bob", "Bob", "U-BOB", 0}).ok());
  ASSERT_TRUE((*other)->AddFace(Face("bob", b)).ok());
  ASSERT_TRUE((*other)->RenamePerson("alice", "Alice A.").ok());
  ASSERT_TRUE((*other)->AddNegative("alice", D(b), "").ok());

  EXPECT_TRUE(fc_->Search(D(b), 1, SearchMode::kBestFace)[0].person_id == "alice");
  refreshed = fc_->Refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.status().ToString();
  EXPECT_TRUE(*refreshed);
  EXPECT_EQ(fc_->size(), 2u);
  EXPECT_EQ(fc_->negative_count(), 1u);
  EXPECT_EQ(fc_->GetPerson("alice")->display_name, "Alice A.");
  EXPECT_EQ(fc_->FindByExternalId("U-BOB")->id, "bob");
  EXPECT_EQ(fc_->Search(D(b), 1, SearchMode::kBestFace)[0].person_id, "bob");
  EXPECT_FALSE(*fc_->Refresh());

  ASSERT_TRUE((*other)->ForgetPerson("bob").ok());
  EXPECT_TRUE(*fc_->Refresh());
  EXPECT_EQ(fc_->person_count(), 1u);
  EXPECT_EQ(fc_->negative_count(), 1u);
  EXPECT_EQ(fc_->Search(D(a), 1, SearchMode::kBestFace)[0].person_id, "alice");
}

TEST_P(FaceCollectionTest, ListImageKeysGivesEachPictureOnceSortedAndOnlyThisCollections) {
  AddPersonOrDie("alice");
  AddPersonOrDie("bob");
  std::mt19937 rng(18);
  ASSERT_TRUE(fc_->AddFace(Face("bob", RandomUnit(rng, kDims), "known/bob/1.jpg")).ok());
  ASSERT_TRUE(fc_->AddFace(Face("alice", RandomUnit(rng, kDims), "known/alice/1.jpg")).ok());
  // Two faces of one group photo share its picture; a face without one has none.
  ASSERT_TRUE(fc_->AddFace(Face("alice", RandomUnit(rng, kDims), "known/bob/1.jpg")).ok());
  ASSERT_TRUE(fc_->AddFace(Face("alice", RandomUnit(rng, kDims))).ok());
  auto visitors = OpenCollection("visitors", kDims);
  ASSERT_TRUE(visitors.ok()) << visitors.status().ToString();
  ASSERT_TRUE((*visitors)->AddPerson({"vic", "Vic", "", 0}).ok());
  ASSERT_TRUE((*visitors)->AddFace(Face("vic", RandomUnit(rng, kDims), "known/vic/1.jpg")).ok());

  auto keys = fc_->ListImageKeys();
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::vector<std::string>{"known/alice/1.jpg", "known/bob/1.jpg"}));
}

TEST_P(FaceCollectionTest, RefreshIgnoresWritesOutsideTheCollection) {
  AddPersonOrDie("alice");
  std::mt19937 rng(17);
  ASSERT_TRUE(fc_->AddFace(Face("alice", RandomUnit(rng, kDims))).ok());
  ASSERT_TRUE(fc_->Refresh().ok());

  // Another writer changes another collection of the same database: nothing
  // to reload here (a reload of a large collection takes a minute).
  auto visitors = OpenCollection("visitors", kDims);
  ASSERT_TRUE(visitors.ok()) << visitors.status().ToString();
  ASSERT_TRUE((*visitors)->AddPerson({"vic", "Vic", "", 0}).ok());
  ASSERT_TRUE((*visitors)->AddFace(Face("vic", RandomUnit(rng, kDims))).ok());
  auto refreshed = fc_->Refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.status().ToString();
  EXPECT_FALSE(*refreshed);

  // A change to this collection, after them, still shows.
  auto other = OpenCollection("default", kDims);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ASSERT_TRUE((*other)->RenamePerson("alice", "Alice A.").ok());
  refreshed = fc_->Refresh();
  ASSERT_TRUE(refreshed.ok()) << refreshed.status().ToString();
  EXPECT_TRUE(*refreshed);
  EXPECT_EQ(fc_->GetPerson("alice")->display_name, "Alice A.");
}

// A face collection as embedders make them: each person's faces scattered
// around their own centre (same-person cosine ~0.65 at 128-d), not uniform noise.
struct Gallery {
  std::vector<FaceRecord> faces;
  std::vector<Embedding> centres;
};
constexpr int kAnnDims = 128;
constexpr float kAnnSigma = 0.065f;
Gallery ClusteredGallery(std::mt19937& rng, int persons, int per_person, int first = 0) {
  Gallery g;
  for (int p = 0; p < persons; ++p) {
    g.centres.push_back(RandomUnit(rng, kAnnDims));
    for (int f = 0; f < per_person; ++f)
      g.faces.push_back(Face(Id("p", first + p), Near(rng, g.centres.back(), kAnnSigma)));
  }
  return g;
}

void FaceCollectionTest::EnrolVisitorAndForgetElsewhere(const std::string& collection,
                                                         const std::string& forgotten,
                                                         std::mt19937& rng, Embedding* visitor) {
  auto other = OpenCollection(collection, kAnnDims);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  *visitor = RandomUnit(rng, kAnnDims);
  ASSERT_TRUE((*other)->AddPerson({"visitor", "", "", 0}).ok());
  ASSERT_TRUE((*other)->AddFace(Face("visitor", *visitor)).ok());
  ASSERT_TRUE((*other)->ForgetPerson(forgotten).ok());
}

// The share of probes whose top person is the same with the index as exactly.
double AgreementWithExact(const FaceCollection& fc, const std::vector<Descriptor>& probes,
                          SearchMode mode) {
  size_t same = 0;
  for (const auto& probe : probes) {
    const auto ann = fc.Search(probe, 5, mode);
    const auto exact = fc.SearchExact(probe, 5, mode);
    same += !ann.empty() && !exact.empty() && ann[0].person_id == exact[0].person_id &&
            ann[0].similarity == exact[0].similarity && ann[0].face_id == exact[0].face_id;
  }
  return double(same) / double(probes.size());
}

TEST_P(FaceCollectionTest, AnnIndexIsUsedAboveItsThresholdAndAgreesWithExact) {
  SearchIndexOptions index;
  index.ann_min_faces = 2000;
  auto fc = OpenCollection("ann", kAnnDims, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  std::mt19937 rng(21);
  const Gallery g = ClusteredGallery(rng, 500, 4);  // 2,000 faces
  for (int p = 0; p < 500; ++p) ASSERT_TRUE((*fc)->AddPerson({Id("p", p), "", "", 0}).ok());
  const std::vector<FaceRecord> first(g.faces.begin(), g.faces.end() - 100);
  ASSERT_TRUE((*fc)->AddFaces(first).ok());
  EXPECT_STREQ((*fc)->search_index(), "exact") << "1,900 faces are below the threshold";
  ASSERT_TRUE((*fc)->AddFaces({g.faces.end() - 100, g.faces.end()}).ok());
  EXPECT_STREQ((*fc)->search_index(), "hnsw");

  std::vector<Descriptor> probes;
  for (int i = 0; i < 400; ++i)
    probes.push_back(D(Near(rng, g.centres[static_cast<size_t>(i) % g.centres.size()], kAnnSigma)));
  EXPECT_GE(AgreementWithExact(**fc, probes, SearchMode::kBestFace), 0.99);
  EXPECT_GE(AgreementWithExact(**fc, probes, SearchMode::kCentroid), 0.99);
  // The right person, too: the probe was made from their centre.
  size_t right = 0;
  for (int i = 0; i < 400; ++i)
    right += (*fc)->Search(probes[static_cast<size_t>(i)], 1, SearchMode::kBestFace)[0].person_id ==
             Id("p", i % 500);
  EXPECT_GE(right, 396u);

  // Reopened (a server start): rebuilt from the store.
  fc->reset();
  fc = OpenCollection("ann", kAnnDims, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  EXPECT_STREQ((*fc)->search_index(), "hnsw");
  EXPECT_GE(AgreementWithExact(**fc, probes, SearchMode::kBestFace), 0.99);
}

TEST(SearchIndexOptionsTest, TheRecognitionSettingsReachTheIndex) {
  Config config;
  config.data_dir = "/var/lib/concierge";
  config.recognition.ann_min_faces = 1000;
  config.recognition.ann_ef_search = 256;
  config.recognition.ann_m = 32;
  config.recognition.ann_ef_construction = 200;
  const SearchIndexOptions index = SearchIndexOptionsFor(config);
  EXPECT_EQ(index.ann_min_faces, 1000u);
  EXPECT_EQ(index.ann.ef_search, 256);
  EXPECT_EQ(index.ann.m, 32);
  EXPECT_EQ(index.ann.ef_construction, 200);
  EXPECT_EQ(index.save_dir, "/var/lib/concierge/index");
}

// A coarse graph (m 4, ef_construction 8) searched with the smallest ef
// misses persons; a larger ef_search set on the open collection finds them,
// and an index rebuilt later keeps it.
TEST_P(FaceCollectionTest, AnnEfSearchSetOnTheOpenCollectionWidensTheSearch) {
  SearchIndexOptions index;
  index.ann_min_faces = 1000;
  index.ann.m = 4;
  index.ann.ef_construction = 8;
  index.ann.ef_search = 1;
  auto fc = OpenCollection("ann", kAnnDims, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  std::mt19937 rng(5);
  const Gallery g = ClusteredGallery(rng, 1000, 2);
  for (int p = 0; p < 1000; ++p) ASSERT_TRUE((*fc)->AddPerson({Id("p", p), "", "", 0}).ok());
  ASSERT_TRUE((*fc)->AddFaces(g.faces).ok());
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  std::vector<Descriptor> probes;
  for (int i = 0; i < 400; ++i)
    probes.push_back(D(Near(rng, g.centres[static_cast<size_t>(i) * 2], kAnnSigma)));
  const double narrow = AgreementWithExact(**fc, probes, SearchMode::kBestFace);
  EXPECT_LT(narrow, 0.98);

  (*fc)->SetEfSearch(4000);  // more than the faces: every one is reached
  EXPECT_EQ(AgreementWithExact(**fc, probes, SearchMode::kBestFace), 1.0) << "was " << narrow;
  // Dropped below half the threshold and grown again: the new index keeps it.
  for (int p = 0; p < 800; ++p) ASSERT_TRUE((*fc)->ForgetPerson(Id("p", p)).ok());
  ASSERT_STREQ((*fc)->search_index(), "exact");
  for (int p = 0; p < 800; ++p) ASSERT_TRUE((*fc)->AddPerson({Id("p", p), "", "", 0}).ok());
  ASSERT_TRUE((*fc)->AddFaces({g.faces.begin(), g.faces.begin() + 1600}).ok());
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  EXPECT_EQ(AgreementWithExact(**fc, probes, SearchMode::kBestFace), 1.0);
}

TEST_P(FaceCollectionTest, AnnIndexFollowsAddDeleteForgetAndRefresh) {
  SearchIndexOptions index;
  index.ann_min_faces = 1000;
  auto fc = OpenCollection("ann", kAnnDims, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  std::mt19937 rng(22);
  const Gallery g = ClusteredGallery(rng, 300, 4);  // 1,200 faces
  for (int p = 0; p < 300; ++p) ASSERT_TRUE((*fc)->AddPerson({Id("p", p), "", "", 0}).ok());
  auto ids = (*fc)->AddFaces(g.faces);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  const auto best = [&](const FaceCollection& c, const Embedding& v) {
    return c.Search(D(v), 1, SearchMode::kBestFace).at(0);
  };

  // Tag: a new person's face is found at once.
  const Embedding newcomer = RandomUnit(rng, kAnnDims);
  ASSERT_TRUE((*fc)->AddPerson({"newcomer", "", "", 0}).ok());
  auto added = (*fc)->AddFace(Face("newcomer", newcomer));
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(best(**fc, newcomer).person_id, "newcomer");
  EXPECT_EQ(best(**fc, newcomer).face_id, *added);

  // Delete: the face is never returned again; its person still is, by another face.
  const Embedding& deleted = Vec(g.faces[0]);
  ASSERT_TRUE((*fc)->DeleteFace((*ids)[0]).ok());
  EXPECT_EQ(best(**fc, deleted).person_id, "p0");
  EXPECT_NE(best(**fc, deleted).face_id, (*ids)[0]);

  // Forget: the person is gone from the index's answers.
  ASSERT_TRUE((*fc)->ForgetPerson("p1").ok());
  EXPECT_NE(best(**fc, Vec(g.faces[4])).person_id, "p1");

  // Refresh: another process's enrolment and forgetting reach this index.
  Embedding visitor;
  ASSERT_NO_FATAL_FAILURE(EnrolVisitorAndForgetElsewhere("ann", "p2", rng, &visitor));
  ASSERT_TRUE((*fc)->Refresh().ok());
  EXPECT_STREQ((*fc)->search_index(), "hnsw");
  EXPECT_EQ(best(**fc, visitor).person_id, "visitor");
  EXPECT_NE(best(**fc, Vec(g.faces[8])).person_id, "p2");

  std::vector<Descriptor> probes;
  for (int i = 3; i < 300; ++i)
    probes.push_back(D(Near(rng, g.centres[static_cast<size_t>(i)], kAnnSigma)));
  EXPECT_GE(AgreementWithExact(**fc, probes, SearchMode::kBestFace), 0.99);

  // Under half the threshold the index is dropped; search stays right.
  for (int p = 3; p < 200; ++p) ASSERT_TRUE((*fc)->ForgetPerson(Id("p", p)).ok());
  EXPECT_STREQ((*fc)->search_index(), "exact");
  EXPECT_EQ(best(**fc, Vec(g.faces[250 * 4])).person_id, "p250");
}

// The files AnnIndex::Save left beside `stem`, sorted.
std::vector<std::string> SavedIndexFiles(const std::string& stem) {
  const std::filesystem::path base(stem);
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(base.parent_path())) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(base.filename().string() + ".", 0) == 0) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The inode of a file: a new save writes a new one.
ino_t Inode(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

void FlipAByteInTheMiddle(const std::string& path) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(0, std::ios::end);
  const std::streamoff middle = file.tellg() / 2;
  file.seekg(middle);
  const char byte = static_cast<char>(file.get());
  file.seekp(middle);
  file.put(static_cast<char>(byte ^ 0x5a));
}

TEST(AnnIndexSaveTest, ALoadedIndexAnswersAsTheSavedOne) {
  TempDir dir;
  const std::string stem = dir.Sub("office.model");
  AnnOptions options;
  auto index = AnnIndex::Create(kAnnDims, options);
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  std::mt19937 rng(31);
  std::vector<int64_t> ids;
  std::vector<Embedding> vectors;
  for (int64_t i = 0; i < 2000; ++i) {
    ids.push_back(1000 + i * 3);
    vectors.push_back(RandomUnit(rng, kAnnDims));
  }
  ASSERT_TRUE((*index)
                  ->Build(ids.data(), ids.size(),
                          [&](size_t i, float* out) {
                            std::copy(vectors[i].begin(), vectors[i].end(), out);
                          })
                  .ok());
  for (size_t i = 0; i < 20; ++i) (*index)->Remove(ids[i]);
  EXPECT_TRUE((*index)->dirty());

  ASSERT_TRUE((*index)->Save(stem).ok());
  EXPECT_FALSE((*index)->dirty());
  const auto files = SavedIndexFiles(stem);
  ASSERT_EQ(files.size(), 1u);
  const std::string name = std::filesystem::path(files[0]).filename().string();
  EXPECT_EQ(name.size(), std::string("office.model.").size() + 64 + std::string(".hnsw").size())
      << name;

  auto loaded = AnnIndex::Load(stem, kAnnDims, options);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_FALSE((*loaded)->dirty());
  EXPECT_EQ((*loaded)->size(), 1980u);
  EXPECT_EQ((*loaded)->removed(), 20u);
  auto want = (*index)->Ids(), got = (*loaded)->Ids();
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
  EXPECT_FALSE((*loaded)->Holds(ids[0], vectors[0].data())) << "removed stays removed";
  EXPECT_TRUE((*loaded)->Holds(ids[20], vectors[20].data()));
  for (int q = 0; q < 200; ++q) {
    const Embedding probe = RandomUnit(rng, kAnnDims);
    EXPECT_EQ((*loaded)->Search(probe.data(), 5), (*index)->Search(probe.data(), 5)) << q;
  }

  // A change makes it dirty; the next save replaces the file, and removes
  // what a save killed midway left (a process that is gone), not what a
  // running one writes.
  ASSERT_TRUE((*loaded)->Add(ids[0], vectors[0].data()).ok());
  EXPECT_TRUE((*loaded)->dirty());
  EXPECT_EQ((*loaded)->size(), 1981u);
  std::ofstream(stem + ".tmp-999999999") << "killed midway";  // above any pid_max
  std::ofstream(stem + ".tmp-1") << "init saving";
  ASSERT_TRUE((*loaded)->Save(stem).ok());
  const auto again = SavedIndexFiles(stem);
  ASSERT_EQ(again.size(), 2u);
  EXPECT_NE(again[0], files[0]);
  EXPECT_EQ(again[1], stem + ".tmp-1");
}

TEST(AnnIndexSaveTest, AFileThatFailsItsChecksIsNotLoaded) {
  TempDir dir;
  const std::string stem = dir.Sub("office.model");
  AnnOptions options;
  EXPECT_EQ(AnnIndex::Load(stem, kAnnDims, options).status().code(), Status::Code::kNotFound);
  auto index = AnnIndex::Create(kAnnDims, options);
  ASSERT_TRUE(index.ok());
  std::mt19937 rng(32);
  for (int64_t i = 0; i < 300; ++i)
    ASSERT_TRUE((*index)->Add(i, RandomUnit(rng, kAnnDims).data()).ok());
  ASSERT_TRUE((*index)->Save(stem).ok());

  AnnOptions other_m = options;
  other_m.m = 24;
  auto wrong = AnnIndex::Load(stem, kAnnDims, other_m);
  EXPECT_EQ(wrong.status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(wrong.status().message(), "M 16")) << wrong.status().ToString();
  EXPECT_EQ(AnnIndex::Load(stem, 64, options).status().code(), Status::Code::kInvalidArgument);
  AnnOptions other_search = options;  // ef_search is not part of the graph
  other_search.ef_search = 300;
  EXPECT_TRUE(AnnIndex::Load(stem, kAnnDims, other_search).ok());

  FlipAByteInTheMiddle(SavedIndexFiles(stem).at(0));
  auto corrupt = AnnIndex::Load(stem, kAnnDims, options);
  EXPECT_EQ(corrupt.status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(corrupt.status().message(), "checksum")) << corrupt.status().ToString();

  const auto nowhere = (*index)->Save(dir.Sub("missing/office.model"));
  EXPECT_EQ(nowhere.code(), Status::Code::kIoError) << nowhere.ToString();
  EXPECT_EQ(SavedIndexFiles(stem).size(), 1u) << "a failed save leaves the earlier file";
}

// A server start: the index saved by the last one is loaded and brought up
// to date with what changed meanwhile, not built again; an unusable file is
// rebuilt and replaced.
TEST_P(FaceCollectionTest, AnnIndexIsLoadedAtOpenAndBroughtUpToDate) {
  SearchIndexOptions index;
  index.ann_min_faces = 1000;
  index.save_dir = dir_.Sub("index");
  const std::string stem = index.save_dir + "/ann";  // files ann.<model>.<sha256>.hnsw
  auto fc = OpenCollection("ann", kAnnDims, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  std::mt19937 rng(23);
  const Gallery g = ClusteredGallery(rng, 300, 4);  // 1,200 faces
  for (int p = 0; p < 300; ++p) ASSERT_TRUE((*fc)->AddPerson({Id("p", p), "", "", 0}).ok());
  ASSERT_TRUE((*fc)->AddFaces(g.faces).ok());
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  auto files = SavedIndexFiles(stem);
  ASSERT_EQ(files.size(), 1u) << "saved once built";
  const ino_t built = Inode(files[0]);
  fc->reset();

  // While no server runs, another process enrols and forgets.
  Embedding visitor;
  ASSERT_NO_FATAL_FAILURE(EnrolVisitorAndForgetElsewhere("ann", "p2", rng, &visitor));

  fc = OpenCollection("ann", kAnnDims, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  EXPECT_STREQ((*fc)->search_index(), "hnsw");
  EXPECT_EQ(Inode(SavedIndexFiles(stem).at(0)), built) << "loaded, not built and saved again";
  const auto best = [&](const Embedding& v) {
    return (*fc)->Search(D(v), 1, SearchMode::kBestFace).at(0);
  };
  EXPECT_EQ(best(visitor).person_id, "visitor");
  EXPECT_NE(best(Vec(g.faces[8])).person_id, "p2");
  std::vector<Descriptor> probes;
  for (int i = 3; i < 300; ++i)
    probes.push_back(D(Near(rng, g.centres[static_cast<size_t>(i)], kAnnSigma)));
  EXPECT_GE(AgreementWithExact(**fc, probes, SearchMode::kBestFace), 0.99);

  // At a stop the caught-up index is saved, once.
  ASSERT_TRUE((*fc)->SaveIndex().ok());
  files = SavedIndexFiles(stem);
  ASSERT_EQ(files.size(), 1u);
  const ino_t caught_up = Inode(files[0]);
  EXPECT_NE(caught_up, built);
  ASSERT_TRUE((*fc)->SaveIndex().ok());
  EXPECT_EQ(Inode(SavedIndexFiles(stem).at(0)), caught_up) << "nothing changed since";
  fc->reset();

  // A damaged file is not used: the index is built again and saved anew.
  FlipAByteInTheMiddle(files[0]);
  fc = OpenCollection("ann", kAnnDims, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  EXPECT_STREQ((*fc)->search_index(), "hnsw");
  files = SavedIndexFiles(stem);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(Inode(files[0]), caught_up);
  EXPECT_EQ(best(visitor).person_id, "visitor");
  EXPECT_GE(AgreementWithExact(**fc, probes, SearchMode::kBestFace), 0.99);
  const ino_t rebuilt = Inode(files[0]);
  fc->reset();

  // A quarter of the faces new meanwhile: building is cheaper than the edits.
  const Gallery newcomers = ClusteredGallery(rng, 100, 4, 300);
  auto other = OpenCollection("ann", kAnnDims);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  for (int p = 300; p < 400; ++p) ASSERT_TRUE((*other)->AddPerson({Id("p", p), "", "", 0}).ok());
  ASSERT_TRUE((*other)->AddFaces(newcomers.faces).ok());
  fc = OpenCollection("ann", kAnnDims, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  EXPECT_STREQ((*fc)->search_index(), "hnsw");
  files = SavedIndexFiles(stem);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(Inode(files[0]), rebuilt);
  EXPECT_EQ(best(Vec(newcomers.faces[0])).person_id, "p300");
  EXPECT_EQ(best(visitor).person_id, "visitor");
}

// How far the index's 8-bit vectors may move a cosine (AnnIndex).
constexpr double kIndexTolerance = 4e-3;

// Top-1 and top-5 equal the double-precision reference within `tolerance`,
// and Search's top-1 is SearchExact's, whatever index is kept.
void ExpectExactScores(const FaceCollection& fc, const Model& model,
                       const std::vector<Embedding>& probes, double tolerance) {
  for (size_t i = 0; i < probes.size(); ++i) {
    for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid}) {
      SCOPED_TRACE(::testing::Message() << "probe " << i << " mode " << static_cast<int>(mode));
      const auto want = NaiveSearch(model, probes[i], 5, mode);
      ExpectSameMatches(fc.SearchExact(D(probes[i]), 5, mode), want, tolerance);
      const auto exact = fc.SearchExact(D(probes[i]), 1, mode);
      const auto got = fc.Search(D(probes[i]), 1, mode);
      ASSERT_EQ(got.size(), 1u);
      EXPECT_EQ(got[0].person_id, exact.at(0).person_id);
      EXPECT_EQ(got[0].similarity, exact.at(0).similarity);
    }
  }
}

TEST_P(FaceCollectionTest, AnnIndexHoldsThePrimaryVectorsOnceIn8BitsAndScoresStayClose) {
  constexpr int kDim = 512;  // the primary embedder's size
  SearchIndexOptions index;
  index.ann_min_faces = 1000;
  auto fc = OpenCollection("once", kDim, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  std::mt19937 rng(23);
  std::vector<Embedding> centres;
  std::vector<FaceRecord> faces;
  for (int p = 0; p < 300; ++p) {
    ASSERT_TRUE((*fc)->AddPerson({Id("p", p), "", "", 0}).ok());
    centres.push_back(RandomUnit(rng, kDim));
    for (int f = 0; f < 4; ++f) faces.push_back(Face(Id("p", p), Near(rng, centres.back(), 0.032f)));
  }
  auto ids = (*fc)->AddFaces(faces);  // 1,200 faces
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  Model model;
  for (size_t i = 0; i < faces.size(); ++i) model[faces[i].person_id][(*ids)[i]] = Vec(faces[i]);
  std::vector<Embedding> probes;
  for (int i = 0; i < 40; ++i) probes.push_back(Near(rng, centres[rng() % centres.size()], 0.032f));
  ExpectExactScores(**fc, model, probes, kIndexTolerance);

  // Memory: the index's codes, links and labels take less than half a float copy.
  auto exact = OpenCollection("once", kDim);
  ASSERT_TRUE(exact.ok()) << exact.status().ToString();
  ASSERT_STREQ((*exact)->search_index(), "exact");
  const size_t one_copy = faces.size() * kDim * sizeof(float);
  EXPECT_LT((*fc)->vector_bytes() + one_copy / 2, (*exact)->vector_bytes());
  ExpectExactScores(**exact, model, probes, 1e-5);

  // Re-embedding, deleting and another writer's change keep the index's vectors right.
  const Embedding moved = RandomUnit(rng, kDim);
  FaceRecord first = faces[0];
  first.id = (*ids)[0];
  ASSERT_TRUE((*fc)->ReplaceEmbeddings(first, D(moved)).ok());
  model["p0"][(*ids)[0]] = moved;
  ASSERT_TRUE((*fc)->DeleteFace((*ids)[5]).ok());
  model["p1"].erase((*ids)[5]);
  const Embedding visitor = RandomUnit(rng, kDim);
  ASSERT_TRUE((*exact)->AddPerson({"visitor", "", "", 0}).ok());
  auto visitor_id = (*exact)->AddFace(Face("visitor", visitor));
  ASSERT_TRUE(visitor_id.ok());
  model["visitor"][*visitor_id] = visitor;
  ASSERT_TRUE((*fc)->Refresh().ok());
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  probes.push_back(moved);
  probes.push_back(visitor);
  ExpectExactScores(**fc, model, probes, kIndexTolerance);
  EXPECT_EQ((*fc)->Search(D(moved), 1, SearchMode::kBestFace).at(0).face_id, (*ids)[0]);

  // Dropping the index below half the threshold puts its decoded vectors back
  // in the matrix.
  for (int p = 2; p < 200; ++p) {
    ASSERT_TRUE((*fc)->ForgetPerson(Id("p", p)).ok());
    model.erase(Id("p", p));
  }
  ASSERT_STREQ((*fc)->search_index(), "exact");
  ExpectExactScores(**fc, model, probes, kIndexTolerance);
}

// Above the index threshold every model's vectors are kept in 8 bits and
// persons have no centroid rows; each model's score of each match stays
// within the codes' tolerance of the float reference through enrolments,
// deletions, a forget and the index being dropped.
TEST_P(FaceCollectionTest, CompactCollectionScoresEveryModelWithinTheCodeTolerance) {
  const std::vector<VectorSpace> two{{kModel, 256}, {"second@000000000003", 128}};
  SearchIndexOptions index;
  index.ann_min_faces = 200;
  auto fc = GetParam() == StoreBackend::kPostgres
                ? FaceCollection::Open(std::move(OpenPgFaceRepository(pg_url_, "compact")).value(),
                                       two, index)
                : FaceCollection::Open(db_.get(), "compact", two, index);
  ASSERT_TRUE(fc.ok()) << fc.status().ToString();
  std::mt19937 rng(31);
  std::vector<Model> models(2);  // per space
  std::vector<std::vector<Embedding>> centres;  // per person: one per space
  const auto enrol = [&](int p, int faces) {
    const std::string person = Id("p", p);
    if (centres.size() <= static_cast<size_t>(p)) {
      ASSERT_TRUE((*fc)->AddPerson({person, "", "", 0}).ok());
      centres.push_back({RandomUnit(rng, two[0].dims), RandomUnit(rng, two[1].dims)});
    }
    for (int f = 0; f < faces; ++f) {
      FaceRecord face;
      face.person_id = person;
      for (size_t s = 0; s < two.size(); ++s)
        face.embeddings.push_back({two[s].model, Near(rng, centres[p][s], 0.05f)});
      auto id = (*fc)->AddFace(face);
      ASSERT_TRUE(id.ok()) << id.status().ToString();
      for (size_t s = 0; s < two.size(); ++s) models[s][person][*id] = face.embeddings[s].vector;
    }
  };
  const auto expect_close = [&] {
    for (int i = 0; i < 20; ++i) {
      const auto& c = centres[rng() % centres.size()];
      const Descriptor probe{{two[0].model, Near(rng, c[0], 0.05f)},
                             {two[1].model, Near(rng, c[1], 0.05f)}};
      for (const auto mode : {SearchMode::kBestFace, SearchMode::kCentroid}) {
        SCOPED_TRACE(::testing::Message() << "probe " << i << " mode " << static_cast<int>(mode));
        const auto want = NaiveSearch(models[0], probe[0].vector, 1, mode);
        const auto hits = (*fc)->Search(probe, 3, mode);
        ASSERT_FALSE(hits.empty());
        EXPECT_EQ(hits[0].person_id, want.at(0).person_id);
        for (const Match& hit : hits) {
          for (size_t s = 0; s < two.size(); ++s) {
            const Model only{{hit.person_id, models[s].at(hit.person_id)}};
            EXPECT_NEAR(hit.scores.at(s), NaiveSearch(only, probe[s].vector, 1, mode)[0].similarity,
                        kIndexTolerance)
                << hit.person_id << " space " << s;
          }
        }
      }
    }
  };
  for (int p = 0; p < 60; ++p) enrol(p, 4);
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  expect_close();
  EXPECT_EQ((*fc)->LookAlikes().size(), centres.size());
  EXPECT_FALSE((*fc)->ImpostorScores(50, SearchMode::kCentroid).empty());

  // Writes while compact: new faces and a newcomer, a deleted face, a forgotten person.
  enrol(3, 2);
  enrol(60, 3);
  const int64_t deleted = models[0]["p7"].begin()->first;
  ASSERT_TRUE((*fc)->DeleteFace(deleted).ok());
  for (auto& model : models) model["p7"].erase(deleted);
  ASSERT_TRUE((*fc)->ForgetPerson("p9").ok());
  for (auto& model : models) model.erase("p9");
  centres[9] = centres[60];  // probes near p9 now look for p60
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  expect_close();

  // More removed slots than live ones rebuild the index from its own codes.
  ASSERT_TRUE((*fc)->AddPerson({"churn", "", "", 0}).ok());
  std::vector<FaceRecord> churn;
  for (int f = 0; f < 1100; ++f) {
    FaceRecord face;
    face.person_id = "churn";
    for (const VectorSpace& space : two)
      face.embeddings.push_back({space.model, RandomUnit(rng, space.dims)});
    churn.push_back(std::move(face));
  }
  ASSERT_TRUE((*fc)->AddFaces(churn).ok());
  ASSERT_TRUE((*fc)->ForgetPerson("churn").ok());
  ASSERT_STREQ((*fc)->search_index(), "hnsw");
  expect_close();

  // Below half the threshold the index goes and the vectors return to the matrices.
  for (int p = 10; p < 50; ++p) {
    ASSERT_TRUE((*fc)->ForgetPerson(Id("p", p)).ok());
    for (auto& model : models) model.erase(Id("p", p));
  }
  centres.erase(centres.begin() + 10, centres.begin() + 50);
  ASSERT_STREQ((*fc)->search_index(), "exact");
  expect_close();
}

TEST_P(FaceCollectionTest, ConcurrentReadersWithAWriterStayConsistent) {
  constexpr int kDim = 64, k = 5;
  Reopen(kDim);
  std::mt19937 rng(12);
  // The anchor person is never touched by the writer, so it must always be
  // the top hit for its own face, whatever else is changing.
  AddPersonOrDie("anchor");
  const Embedding anchor = RandomUnit(rng, kDim);
  auto anchor_id = fc_->AddFace(Face("anchor", anchor));
  ASSERT_TRUE(anchor_id.ok());
  for (int p = 0; p < 20; ++p) AddPersonOrDie(Id("p", p));
  std::vector<FaceRecord> initial;
  for (int i = 0; i < 400; ++i)
    initial.push_back(Face(Id("p", i % 20), RandomUnit(rng, kDim)));
  ASSERT_TRUE(fc_->AddFaces(initial).ok());

  std::atomic<bool> stop{false};
  std::atomic<int> searches{0}, bad{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 local(100 + static_cast<unsigned>(t));
      while (!stop.load()) {
        const bool probe_anchor = local() % 2;
        const Embedding probe = probe_anchor ? anchor : RandomUnit(local, kDim);
        const auto mode = local() % 2 ? SearchMode::kBestFace : SearchMode::kCentroid;
        const auto hits = fc_->Search(D(probe), k, mode);
        bool ok = !hits.empty() && hits.size() <= static_cast<size_t>(k);
        for (size_t i = 0; ok && i < hits.size(); ++i) {
          ok = hits[i].similarity <= 1.0001f && hits[i].similarity >= -1.0001f &&
               (i == 0 || hits[i - 1].similarity >= hits[i].similarity) &&
               (mode == SearchMode::kCentroid ? hits[i].face_id == 0 : hits[i].face_id > 0);
          for (size_t j = 0; ok && j < i; ++j) ok = hits[j].person_id != hits[i].person_id;
        }
        if (ok && probe_anchor)
          ok = hits[0].person_id == "anchor" && hits[0].similarity > 0.9999f;
        if (!ok) bad.fetch_add(1);
        searches.fetch_add(1);
        (void)fc_->ListPersons();
        (void)fc_->size();
      }
    });
  }

  std::mt19937 wrng(13);
  for (int round = 0; round < 60; ++round) {
    const std::string id = Id("w", round);
    ASSERT_TRUE(fc_->AddPerson({id, "W", "", 0}).ok());
    std::vector<FaceRecord> batch;
    for (int i = 0; i < 5; ++i) batch.push_back(Face(id, RandomUnit(wrng, kDim)));
    auto ids = fc_->AddFaces(batch);
    ASSERT_TRUE(ids.ok());
    ASSERT_TRUE(fc_->DeleteFace((*ids)[2]).ok());
    if (round % 2 == 0) {
      ASSERT_TRUE(fc_->ForgetPerson(id).ok());
    }
    if (round < 20) {
      ASSERT_TRUE(fc_->ForgetPerson(Id("p", round)).ok());
    }
  }
  while (searches.load() < 1000) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0) << "of " << searches.load() << " searches";

  // Memory and database agree at the end.
  const size_t faces = fc_->size(), persons = fc_->person_count();
  EXPECT_EQ(CountRows("SELECT count(*) FROM faces WHERE collection = 'default'"),
            static_cast<int64_t>(faces));
  Reopen(kDim);
  EXPECT_EQ(fc_->size(), faces);
  EXPECT_EQ(fc_->person_count(), persons);
}

}  // namespace
}  // namespace concierge

#include "store/database.h"

#include <sqlite3.h>
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_env.h"

namespace concierge {
namespace {

using ::concierge::testing::TempDir;

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A raw second connection, standing in for another process.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
  }
  ~RawConnection() { sqlite3_close(db_); }
  int Exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_ = nullptr;
};

std::unique_ptr<Database> OpenOrDie(const std::string& path, int busy_ms = 5000,
                                    Database::Access access = Database::Access::kReadWrite) {
  auto db = Database::OpenSqlite(path, busy_ms, access);
  EXPECT_TRUE(db.ok()) << db.status().ToString();
  return db.ok() ? std::move(db).value() : nullptr;
}

// The single text or integer result of `sql`, as text.
std::string QueryOne(Database& db, const std::string& sql) {
  return db.WithConnection([&](Connection& c) -> std::string {
    auto st = c.Prepare(sql);
    if (!st.ok()) return "prepare failed: " + st.status().ToString();
    auto row = st->Step();
    if (!row.ok()) return "step failed: " + row.status().ToString();
    return *row ? st->ColumnText(0) : "<no row>";
  });
}

Status InsertCollection(Database& db, const std::string& name) {
  return db.WithConnection([&](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("INSERT INTO collections(name, created_ms) VALUES(?, 1)"));
    return st.BindText(name).Run();
  });
}

TEST(StoreDatabase, MigrationsAreAppliedOnceAndRecorded) {
  TempDir dir;
  const std::string path = dir.Sub("concierge.db");
  std::string applied;
  {
    auto db = OpenOrDie(path);
    ASSERT_TRUE(db);
    auto version = db->SchemaVersion();
    ASSERT_TRUE(version.ok());
    EXPECT_EQ(*version, Database::LatestSchemaVersion());
    EXPECT_GE(Database::LatestSchemaVersion(), 2);
    for (const char* table : {"collections", "persons", "faces", "sightings", "visits"})
      EXPECT_EQ(QueryOne(*db, std::string("SELECT name FROM sqlite_master WHERE name = '") +
                                  table + "'"),
                table);
    applied = QueryOne(*db, "SELECT group_concat(version || ':' || applied_ms) FROM "
                            "(SELECT * FROM schema_migrations ORDER BY version)");
    ASSERT_TRUE(InsertCollection(*db, "kept").ok());
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto db = OpenOrDie(path);
  ASSERT_TRUE(db);
  // Same versions with the same timestamps: nothing ran again, and data survived.
  EXPECT_EQ(QueryOne(*db, "SELECT group_concat(version || ':' || applied_ms) FROM "
                          "(SELECT * FROM schema_migrations ORDER BY version)"),
            applied);
  EXPECT_EQ(QueryOne(*db, "SELECT count(*) FROM schema_migrations"),
            std::to_string(Database::LatestSchemaVersion()));
  EXPECT_EQ(QueryOne(*db, "SELECT name FROM collections"), "kept");
}

TEST(StoreDatabase, ConcurrentOpenersMigrateExactlyOnce) {
  TempDir dir;
  const std::string path = dir.Sub("concierge.db");
  std::vector<std::thread> threads;
  std::vector<Status> results(4);
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] { results[i] = Database::OpenSqlite(path, 10000).status(); });
  for (auto& t : threads) t.join();
  for (const auto& st : results) EXPECT_TRUE(st.ok()) << st.ToString();
  auto db = OpenOrDie(path);
  ASSERT_TRUE(db);
  EXPECT_EQ(QueryOne(*db, "SELECT count(*) FROM schema_migrations"),
            std::to_string(Database::LatestSchemaVersion()));
}

TEST(StoreDatabase, WalModeForeignKeysAndParentDirectories) {
  TempDir dir;
  const std::string path = dir.Sub("a/b/c/concierge.db");
  auto db = OpenOrDie(path);
  ASSERT_TRUE(db);
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(QueryOne(*db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryOne(*db, "PRAGMA foreign_keys"), "1");
  // The foreign key from persons to collections is enforced.
  const Status orphan = db->WithConnection([](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement st,
                     c.Prepare("INSERT INTO persons(id, collection, display_name, created_ms) "
                               "VALUES('p', 'missing', 'P', 1)"));
    return st.Run();
  });
  EXPECT_EQ(orphan.code(), Status::Code::kNotFound) << orphan.ToString();
}

TEST(StoreDatabase, InMemoryDatabaseIsMigrated) {
  auto db = OpenOrDie(":memory:");
  ASSERT_TRUE(db);
  EXPECT_EQ(*db->SchemaVersion(), Database::LatestSchemaVersion());
  EXPECT_TRUE(InsertCollection(*db, "eval").ok());
  EXPECT_EQ(QueryOne(*db, "PRAGMA foreign_keys"), "1");
}

TEST(StoreDatabase, TransactionRollsBackWhenTheBodyFails) {
  TempDir dir;
  auto db = OpenOrDie(dir.Sub("concierge.db"));
  ASSERT_TRUE(db);
  const Status st = db->Transaction([](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement insert,
                     c.Prepare("INSERT INTO collections(name, created_ms) VALUES('x', 1)"));
    RETURN_IF_ERROR(insert.Run());
    return Status::Internal("boom");
  });
  EXPECT_EQ(st.code(), Status::Code::kInternal);
  EXPECT_EQ(QueryOne(*db, "SELECT count(*) FROM collections"), "0");
  // The connection is usable afterwards (no transaction left open).
  EXPECT_TRUE(InsertCollection(*db, "y").ok());
  EXPECT_EQ(QueryOne(*db, "SELECT count(*) FROM collections"), "1");
}

TEST(StoreDatabase, DuplicateKeyIsAlreadyExists) {
  TempDir dir;
  auto db = OpenOrDie(dir.Sub("concierge.db"));
  ASSERT_TRUE(db);
  ASSERT_TRUE(InsertCollection(*db, "x").ok());
  EXPECT_EQ(InsertCollection(*db, "x").code(), Status::Code::kAlreadyExists);
}

TEST(StoreDatabase, StatementErrorsAreReportedNotFatal) {
  TempDir dir;
  auto db = OpenOrDie(dir.Sub("concierge.db"));
  ASSERT_TRUE(db);
  db->WithConnection([](Connection& c) {
    auto bad_sql = c.Prepare("SELEC nonsense");
    ASSERT_FALSE(bad_sql.ok());
    EXPECT_PRED2(Contains, bad_sql.status().message(), "SELEC nonsense");

    auto one_param = c.Prepare("SELECT ?");
    ASSERT_TRUE(one_param.ok());
    one_param->BindInt(1).BindInt(2);  // one too many
    EXPECT_FALSE(one_param->Step().ok());
    one_param->Reset();  // clears the remembered bind error
    auto row = one_param->BindText("hello").Step();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ(one_param->ColumnText(0), "hello");
  });
}

TEST(StoreDatabase, BlobsRoundTripIncludingEmpty) {
  TempDir dir;
  auto db = OpenOrDie(dir.Sub("concierge.db"));
  ASSERT_TRUE(db);
  db->WithConnection([](Connection& c) {
    const std::string bytes("a\0b\xff", 4);
    for (const std::string& blob : {bytes, std::string()}) {
      auto st = c.Prepare("SELECT ?, typeof(?)");
      ASSERT_TRUE(st.ok());
      auto row = st->BindBlob(blob.data(), blob.size()).BindBlob(blob.data(), blob.size()).Step();
      ASSERT_TRUE(row.ok() && *row);
      EXPECT_EQ(st->ColumnBlob(0), blob);
      EXPECT_EQ(st->ColumnText(1), "blob");
    }
  });
}

TEST(StoreDatabase, ReadOnlyOpenServesReadsAndRefusesWrites) {
  TempDir dir;
  const std::string path = dir.Sub("concierge.db");
  {
    auto db = OpenOrDie(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(InsertCollection(*db, "existing").ok());
  }
  auto ro = OpenOrDie(path, 100, Database::Access::kReadOnly);
  ASSERT_TRUE(ro);
  EXPECT_EQ(QueryOne(*ro, "SELECT name FROM collections"), "existing");
  const Status write = InsertCollection(*ro, "new");
  EXPECT_EQ(write.code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, write.message(), "database is read-only");
  EXPECT_PRED2(Contains, write.message(), path);
  const Status txn =
      ro->Transaction([](Connection& c) { return c.Exec("DELETE FROM collections"); });
  EXPECT_EQ(txn.code(), Status::Code::kIoError) << txn.ToString();
  EXPECT_EQ(QueryOne(*ro, "SELECT count(*) FROM collections"), "1");
}

TEST(StoreDatabase, ReadOnlyOpenOfUnmigratedDatabaseFailsWithoutWriting) {
  TempDir dir;
  const std::string path = dir.Sub("old.db");
  {
    RawConnection raw(path);
    ASSERT_EQ(raw.Exec("CREATE TABLE legacy(x)"), SQLITE_OK);
  }
  auto ro = Database::OpenSqlite(path, 100, Database::Access::kReadOnly);
  ASSERT_FALSE(ro.ok());
  EXPECT_EQ(ro.status().code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, ro.status().message(), "database is read-only");
  EXPECT_PRED2(Contains, ro.status().message(), path);
  // Nothing was written: no migration table appeared.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT count(*) FROM sqlite_master", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

TEST(StoreDatabase, ReadOnlyOpenOfMissingFileIsIoError) {
  TempDir dir;
  auto ro = Database::OpenSqlite(dir.Sub("absent.db"), 100, Database::Access::kReadOnly);
  ASSERT_FALSE(ro.ok());
  EXPECT_EQ(ro.status().code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, ro.status().message(), "absent.db");
  EXPECT_FALSE(std::filesystem::exists(dir.Sub("absent.db")));
}

TEST(StoreDatabase, LockedAtOpenIsIoErrorNamingThePath) {
  TempDir dir;
  const std::string path = dir.Sub("concierge.db");
  RawConnection other(path);
  // A rollback-journal database held exclusively, as by another process mid-write.
  ASSERT_EQ(other.Exec("CREATE TABLE t(x); BEGIN EXCLUSIVE; INSERT INTO t VALUES(1)"), SQLITE_OK);
  auto db = Database::OpenSqlite(path, 100);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, db.status().message(), "database is locked");
  EXPECT_PRED2(Contains, db.status().message(), path);
  // Once released, the same database opens and migrates.
  ASSERT_EQ(other.Exec("COMMIT"), SQLITE_OK);
  EXPECT_TRUE(OpenOrDie(path, 100));
}

TEST(StoreDatabase, LockedOnWriteIsIoErrorAndWritesNothing) {
  TempDir dir;
  const std::string path = dir.Sub("concierge.db");
  auto db = OpenOrDie(path, 100);
  ASSERT_TRUE(db);
  RawConnection other(path);
  ASSERT_EQ(other.Exec("BEGIN IMMEDIATE"), SQLITE_OK);
  const Status st = db->Transaction([](Connection& c) -> Status {
    ASSIGN_OR_RETURN(Statement insert,
                     c.Prepare("INSERT INTO collections(name, created_ms) VALUES('x', 1)"));
    return insert.Run();
  });
  EXPECT_EQ(st.code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, st.message(), "database is locked");
  EXPECT_PRED2(Contains, st.message(), path);
  const Status single = InsertCollection(*db, "y");
  EXPECT_EQ(single.code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, single.message(), "database is locked");
  // Reads still work in WAL mode while another connection writes.
  EXPECT_EQ(QueryOne(*db, "SELECT count(*) FROM collections"), "0");
  ASSERT_EQ(other.Exec("COMMIT"), SQLITE_OK);
  EXPECT_TRUE(InsertCollection(*db, "z").ok());
  EXPECT_EQ(QueryOne(*db, "SELECT group_concat(name) FROM collections"), "z");
}

TEST(StoreDatabase, NotADatabaseIsIoError) {
  TempDir dir;
  const std::string path = dir.Sub("junk.db");
  std::ofstream(path) << std::string(4096, 'x');
  auto db = Database::OpenSqlite(path, 100);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, db.status().message(), "not a database");
}

TEST(StoreDatabase, NewerSchemaIsRefused) {
  TempDir dir;
  const std::string path = dir.Sub("concierge.db");
  {
    auto db = OpenOrDie(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->WithConnection([](Connection& c) {
                    return c.Exec("INSERT INTO schema_migrations VALUES(999, 1)");
                  }).ok());
  }
  auto db = Database::OpenSqlite(path, 100);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_PRED2(Contains, db.status().message(), "999");
}

// Root ignores file permissions, so a truly read-only filesystem needs a mount.
TEST(StoreDatabase, ReadOnlyFilesystemIsIoErrorNotCrash) {
  TempDir dir;
  const std::string mnt = dir.Sub("mnt");
  std::filesystem::create_directory(mnt);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0)
    GTEST_SKIP() << "\n*** CANNOT MOUNT tmpfs (" << std::strerror(errno)
                 << "): read-only filesystem case NOT TESTED ***";
  struct Unmount {
    std::string dir;
    ~Unmount() { umount2(dir.c_str(), MNT_DETACH); }
  } unmount{mnt};
  const std::string path = mnt + "/concierge.db";
  {
    auto db = OpenOrDie(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(InsertCollection(*db, "kept").ok());
  }
  ASSERT_EQ(mount("tmpfs", mnt.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0)
      << std::strerror(errno);
  auto db = Database::OpenSqlite(path, 100);
  EXPECT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kIoError);
  EXPECT_PRED2(Contains, db.status().message(), "read-only");
  EXPECT_PRED2(Contains, db.status().message(), path);
  db = Database::OpenSqlite(mnt + "/sub/new.db", 100);
  EXPECT_EQ(db.status().code(), Status::Code::kIoError) << db.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(mnt + "/sub"));
}

}  // namespace
}  // namespace concierge

#include "store/sqlite_sighting_store.h"

#include <cstring>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace concierge {

namespace {

constexpr char kSightingColumns[] =
    "id, camera, site, track, seq, captured_ms, received_ms, box_x, box_y, box_w, box_h, "
    "detector_score, quality_json, live_score, image_key, person_id, similarity, decision, "
    "visit_id, decided_ms, embedding, views_json, descriptor_json";
constexpr char kVisitColumns[] = "id, site, person_id, started_ms, last_ms, sightings";

std::string QualityJson(const FaceQuality& q) {
  return nlohmann::json{{"size_px", q.size_px}, {"sharpness", q.sharpness},   {"yaw", q.yaw_deg},
                        {"pitch", q.pitch_deg}, {"brightness", q.brightness}, {"score", q.score}}
      .dump();
}

// Missing or malformed fields read as 0: the column is informational.
FaceQuality ParseQuality(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  FaceQuality q;
  if (!j.is_object()) return q;
  auto get = [&](const char* key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<float>() : 0.f;
  };
  q.size_px = get("size_px");
  q.sharpness = get("sharpness");
  q.yaw_deg = get("yaw");
  q.pitch_deg = get("pitch");
  q.brightness = get("brightness");
  q.score = get("score");
  return q;
}

// Reads one row selected with kSightingColumns.
Result<SightingRecord> ReadSighting(const Statement& row) {
  SightingRecord s;
  s.id = row.ColumnText(0);
  s.camera = row.ColumnText(1);
  s.site = row.ColumnText(2);
  s.track = row.ColumnText(3);
  s.seq = static_cast<int>(row.ColumnInt(4));
  s.captured_ms = row.ColumnInt(5);
  s.received_ms = row.ColumnInt(6);
  s.box = {static_cast<float>(row.ColumnDouble(7)), static_cast<float>(row.ColumnDouble(8)),
           static_cast<float>(row.ColumnDouble(9)), static_cast<float>(row.ColumnDouble(10))};
  s.detector_score = static_cast<float>(row.ColumnDouble(11));
  s.quality = ParseQuality(row.ColumnText(12));
  s.live_score = static_cast<float>(row.ColumnDouble(13));
  s.image_key = row.ColumnText(14);
  if (!row.ColumnIsNull(15)) s.person_id = row.ColumnText(15);
  if (!row.ColumnIsNull(16)) s.similarity = static_cast<float>(row.ColumnDouble(16));
  ASSIGN_OR_RETURN(s.decision, ParseDecision(row.ColumnText(17)));
  if (!row.ColumnIsNull(18)) s.visit_id = row.ColumnInt(18);
  s.decided_ms = row.ColumnInt(19);
  const std::string_view blob = row.ColumnBlob(20);
  if (blob.size() % sizeof(float) != 0)
    return Status::Internal("sighting " + s.id + " has a malformed embedding");
  s.embedding.resize(blob.size() / sizeof(float));
  if (!blob.empty()) std::memcpy(s.embedding.data(), blob.data(), blob.size());
  ParseViewsJson(row.ColumnText(21), &s);
  ASSIGN_OR_RETURN(s.descriptor, ParseDescriptorJson(row.ColumnText(22), s.id));
  return s;
}

VisitRecord ReadVisit(const Statement& row) {
  VisitRecord v;
  v.id = row.ColumnInt(0);
  v.site = row.ColumnText(1);
  if (!row.ColumnIsNull(2)) v.person_id = row.ColumnText(2);
  v.started_ms = row.ColumnInt(3);
  v.last_ms = row.ColumnInt(4);
  v.sightings = static_cast<int>(row.ColumnInt(5));
  return v;
}

// Runs a prepared query and collects every row with `read`.
template <typename T, typename Read>
Result<std::vector<T>> Collect(Statement& stmt, Read read) {
  std::vector<T> out;
  Status status = stmt.ForEach([&](const Statement& row) -> Status {
    if constexpr (std::is_same_v<decltype(read(row)), T>) {
      out.push_back(read(row));
    } else {
      ASSIGN_OR_RETURN(T value, read(row));
      out.push_back(std::move(value));
    }
    return Status::Ok();
  });
  if (!status.ok()) return status;
  return out;
}

Result<SightingRecord> LoadSighting(Connection& c, const std::string& id) {
  ASSIGN_OR_RETURN(Statement stmt, c.Prepare(std::string("SELECT ") + kSightingColumns +
                                             " FROM sightings WHERE id = ?"));
  ASSIGN_OR_RETURN(const bool found, stmt.BindText(id).Step());
  if (!found) return Status::NotFound("no sighting '" + id + "'");
  return ReadSighting(stmt);
}

Result<VisitRecord> LoadVisit(Connection& c, int64_t id) {
  ASSIGN_OR_RETURN(Statement stmt,
                   c.Prepare(std::string("SELECT ") + kVisitColumns + " FROM visits WHERE id = ?"));
  ASSIGN_OR_RETURN(const bool found, stmt.BindInt(id).Step());
  if (!found) return Status::NotFound("no visit " + std::to_string(id));
  return ReadVisit(stmt);
}

// Joins or starts the visit for a pending sighting; returns its id (0 for none).
Result<int64_t> ApplyVisit(Connection& c, const SightingRecord& s, const SightingOutcome& o,
                           const VisitChoice& choice) {
  switch (choice.kind) {
    case VisitChoice::Kind::kNone: return int64_t{0};
    case VisitChoice::Kind::kStart: {
      ASSIGN_OR_RETURN(Statement insert,
                       c.Prepare("INSERT INTO visits(site, person_id, started_ms, last_ms, "
                                 "sightings) VALUES(?, ?, ?, ?, 1)"));
      insert.BindText(s.site);
      if (o.person_id)
        insert.BindText(*o.person_id);
      else
        insert.BindNull();
      RETURN_IF_ERROR(insert.BindInt(s.captured_ms).BindInt(s.captured_ms).Run());
      return c.LastInsertId();
    }
    case VisitChoice::Kind::kJoin: {
      ASSIGN_OR_RETURN(Statement update,
                       c.Prepare("UPDATE visits SET started_ms = MIN(started_ms, ?1), "
                                 "last_ms = MAX(last_ms, ?1), sightings = sightings + 1 "
                                 "WHERE id = ?2"));
      RETURN_IF_ERROR(update.BindInt(s.captured_ms).BindInt(choice.visit_id).Run());
      if (c.Changes() == 0) return Status::NotFound("no visit " + std::to_string(choice.visit_id));
      return choice.visit_id;
    }
  }
  return int64_t{0};
}

// Inserts a checked pending sighting unless its id exists; true when it was new.
Result<bool> InsertSighting(Connection& c, const SightingRecord& s) {
  ASSIGN_OR_RETURN(
      Statement stmt,
      c.Prepare("INSERT INTO sightings(id, camera, site, track, seq, captured_ms, "
                "received_ms, box_x, box_y, box_w, box_h, detector_score, quality_json, "
                "live_score, image_key, views_json) "
                "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO NOTHING"));
  RETURN_IF_ERROR(stmt.BindText(s.id)
                      .BindText(s.camera)
                      .BindText(s.site)
                      .BindText(s.track)
                      .BindInt(s.seq)
                      .BindInt(s.captured_ms)
                      .BindInt(s.received_ms)
                      .BindDouble(s.box.x)
                      .BindDouble(s.box.y)
                      .BindDouble(s.box.w)
                      .BindDouble(s.box.h)
                      .BindDouble(s.detector_score)
                      .BindText(QualityJson(s.quality))
                      .BindDouble(s.live_score)
                      .BindText(s.image_key)
                      .BindText(ViewsJson(s))
                      .Run());
  return c.Changes() == 1;
}

class SqliteSightingStore final : public SightingStore {
 public:
  explicit SqliteSightingStore(Database* db) : db_(db) {}

  Result<bool> Insert(const SightingRecord& s) override {
    RETURN_IF_ERROR(CheckNewSighting(s));
    return db_->WithConnection([&](Connection& c) { return InsertSighting(c, s); });
  }

  Result<std::vector<bool>> InsertBatch(const std::vector<SightingRecord>& batch) override {
    for (const auto& s : batch) RETURN_IF_ERROR(CheckNewSighting(s));
    std::vector<bool> fresh;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
      fresh.clear();
      for (const auto& s : batch) {
        ASSIGN_OR_RETURN(const bool inserted, InsertSighting(c, s));
        fresh.push_back(inserted);
      }
      return Status::Ok();
    }));
    return fresh;
  }

  Result<SightingRecord> Get(const std::string& id) override {
    return db_->WithConnection([&](Connection& c) { return LoadSighting(c, id); });
  }

  Result<std::vector<SightingRecord>> List(const SightingQuery& q) override {
    std::string sql =
        std::string("SELECT ") + kSightingColumns + " FROM sightings WHERE captured_ms >= ?";
    if (q.until_ms > 0) sql += " AND captured_ms < ?";
    // The first term bounds the captured_ms index range; the second breaks ties.
    if (q.after) sql += " AND captured_ms <= ? AND (captured_ms < ? OR id < ?)";
    if (!q.camera.empty()) sql += " AND camera = ?";
    if (!q.person_id.empty()) sql += " AND person_id = ?";
    if (q.unknown_only) sql += " AND decision = 'unknown'";
    if (q.visit_id) sql += " AND visit_id = ?";
    sql += " ORDER BY captured_ms DESC, id DESC";
    if (q.limit > 0) sql += " LIMIT ?";
    return db_->WithConnection([&](Connection& c) -> Result<std::vector<SightingRecord>> {
      ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
      stmt.BindInt(q.since_ms);
      if (q.until_ms > 0) stmt.BindInt(q.until_ms);
      if (q.after)
        stmt.BindInt(q.after->captured_ms).BindInt(q.after->captured_ms).BindText(q.after->id);
      if (!q.camera.empty()) stmt.BindText(q.camera);
      if (!q.person_id.empty()) stmt.BindText(q.person_id);
      if (q.visit_id) stmt.BindInt(*q.visit_id);
      if (q.limit > 0) stmt.BindInt(q.limit);
      return Collect<SightingRecord>(stmt, ReadSighting);
    });
  }

  Result<std::vector<SightingRecord>> ListPending() override {
    return db_->WithConnection([&](Connection& c) -> Result<std::vector<SightingRecord>> {
      ASSIGN_OR_RETURN(Statement stmt, c.Prepare(std::string("SELECT ") + kSightingColumns +
                                                 " FROM sightings WHERE decision = 'pending' "
                                                 "ORDER BY captured_ms, id"));
      return Collect<SightingRecord>(stmt, ReadSighting);
    });
  }

  Result<std::vector<SightingRecord>> RecentUnknown(const std::string& site, int64_t from_ms,
                                                    int64_t to_ms, int limit) override {
    return db_->WithConnection([&](Connection& c) -> Result<std::vector<SightingRecord>> {
      ASSIGN_OR_RETURN(
          Statement stmt,
          c.Prepare(std::string("SELECT ") + kSightingColumns +
                    " FROM sightings WHERE site = ? AND decision = 'unknown' AND captured_ms "
                    "BETWEEN ? AND ? AND embedding IS NOT NULL AND visit_id IS NOT NULL "
                    "ORDER BY captured_ms DESC, id DESC LIMIT ?"));
      stmt.BindText(site).BindInt(from_ms).BindInt(to_ms).BindInt(limit);
      return Collect<SightingRecord>(stmt, ReadSighting);
    });
  }

  Result<std::vector<VisitRecord>> PersonVisits(const std::string& site,
                                                const std::string& person_id, int64_t from_ms,
                                                int64_t to_ms) override {
    return db_->WithConnection([&](Connection& c) -> Result<std::vector<VisitRecord>> {
      ASSIGN_OR_RETURN(
          Statement stmt,
          c.Prepare(std::string("SELECT ") + kVisitColumns +
                    " FROM visits WHERE site = ? AND person_id = ? AND "
                    "last_ms >= ? AND started_ms <= ? ORDER BY last_ms DESC, id DESC"));
      stmt.BindText(site).BindText(person_id).BindInt(from_ms).BindInt(to_ms);
      return Collect<VisitRecord>(stmt, ReadVisit);
    });
  }

  Result<DecisionResult> RecordDecision(const SightingOutcome& o,
                                        const VisitChoice& choice) override {
    RETURN_IF_ERROR(CheckOutcome(o));
    DecisionResult result;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(SightingRecord current, LoadSighting(c, o.id));
      if (current.decision == Decision::kPending) {
        ASSIGN_OR_RETURN(const int64_t visit_id, ApplyVisit(c, current, o, choice));
        ASSIGN_OR_RETURN(
            Statement update,
            c.Prepare("UPDATE sightings SET decision = ?, person_id = ?, similarity = ?, "
                      "live_score = ?, image_key = ?, embedding = ?, visit_id = ?, "
                      "decided_ms = ?, descriptor_json = ? WHERE id = ?"));
        update.BindText(ToString(o.decision));
        if (o.person_id)
          update.BindText(*o.person_id);
        else
          update.BindNull();
        if (o.similarity)
          update.BindDouble(*o.similarity);
        else
          update.BindNull();
        update.BindDouble(o.live_score).BindText(o.image_key);
        if (o.embedding.empty())
          update.BindNull();
        else
          update.BindBlob(o.embedding.data(), o.embedding.size() * sizeof(float));
        if (visit_id > 0)
          update.BindInt(visit_id);
        else
          update.BindNull();
        RETURN_IF_ERROR(
            update.BindInt(NowMs()).BindText(DescriptorJson(o.descriptor)).BindText(o.id).Run());
        result.applied = true;
        result.visit_started = choice.kind == VisitChoice::Kind::kStart;
        ASSIGN_OR_RETURN(current, LoadSighting(c, o.id));
      }
      if (current.visit_id) {
        ASSIGN_OR_RETURN(VisitRecord visit, LoadVisit(c, *current.visit_id));
        result.visit = std::move(visit);
      }
      result.sighting = std::move(current);
      return Status::Ok();
    }));
    return result;
  }

  Result<std::vector<VisitRecord>> ListVisits(int64_t since_ms, int limit) override {
    return ListVisits(VisitQuery{.since_ms = since_ms, .limit = limit});
  }

  Result<std::vector<VisitRecord>> ListVisits(const VisitQuery& q) override {
    std::string sql =
        std::string("SELECT ") + kVisitColumns + " FROM visits WHERE last_ms >= ?";
    if (q.until_ms > 0) sql += " AND started_ms < ?";
    if (q.after) sql += " AND last_ms <= ? AND (last_ms < ? OR id < ?)";
    if (!q.person_id.empty()) sql += " AND person_id = ?";
    if (!q.camera.empty())
      sql += " AND id IN (SELECT visit_id FROM sightings WHERE camera = ? AND visit_id IS NOT NULL)";
    if (q.unknown_only) sql += " AND person_id IS NULL";
    sql += " ORDER BY last_ms DESC, id DESC";
    if (q.limit > 0) sql += " LIMIT ?";
    return db_->WithConnection([&](Connection& c) -> Result<std::vector<VisitRecord>> {
      ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
      stmt.BindInt(q.since_ms);
      if (q.until_ms > 0) stmt.BindInt(q.until_ms);
      if (q.after) stmt.BindInt(q.after->last_ms).BindInt(q.after->last_ms).BindInt(q.after->id);
      if (!q.person_id.empty()) stmt.BindText(q.person_id);
      if (!q.camera.empty()) stmt.BindText(q.camera);
      if (q.limit > 0) stmt.BindInt(q.limit);
      return Collect<VisitRecord>(stmt, ReadVisit);
    });
  }

  Result<VisitRecord> GetVisit(int64_t id) override {
    return db_->WithConnection([&](Connection& c) { return LoadVisit(c, id); });
  }

  Result<std::vector<SightingRecord>> ListCapturedBefore(int64_t before_ms,
                                                         const std::vector<Decision>& decisions,
                                                         bool with_image_only,
                                                         int limit) override {
    std::string sql =
        std::string("SELECT ") + kSightingColumns + " FROM sightings WHERE captured_ms < ?";
    if (!decisions.empty()) {
      sql += " AND decision IN (?";
      for (size_t i = 1; i < decisions.size(); ++i) sql += ", ?";
      sql += ")";
    }
    if (with_image_only) sql += " AND image_key <> ''";
    sql += " ORDER BY captured_ms, id LIMIT ?";
    return db_->WithConnection([&](Connection& c) -> Result<std::vector<SightingRecord>> {
      ASSIGN_OR_RETURN(Statement stmt, c.Prepare(sql));
      stmt.BindInt(before_ms);
      for (const Decision d : decisions) stmt.BindText(ToString(d));
      stmt.BindInt(limit);
      return Collect<SightingRecord>(stmt, ReadSighting);
    });
  }

  Result<bool> ClearImageKey(const std::string& id, const std::string& image_key) override {
    return db_->WithConnection([&](Connection& c) -> Result<bool> {
      ASSIGN_OR_RETURN(Statement stmt, c.Prepare("UPDATE sightings SET image_key = '' "
                                                 "WHERE id = ? AND image_key = ?"));
      RETURN_IF_ERROR(stmt.BindText(id).BindText(image_key).Run());
      return c.Changes() == 1;
    });
  }

  Result<int64_t> DeleteSightings(const std::vector<std::string>& ids) override {
    int64_t deleted = 0;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(Statement stmt, c.Prepare("DELETE FROM sightings WHERE id = ?"));
      for (const std::string& id : ids) {
        stmt.Reset();
        RETURN_IF_ERROR(stmt.BindText(id).Run());
        deleted += c.Changes();
      }
      return Status::Ok();
    }));
    return deleted;
  }

  Result<int64_t> DeleteVisitsBefore(int64_t before_ms) override {
    return db_->RowsChangedBy("DELETE FROM visits WHERE last_ms < ? AND NOT EXISTS "
                              "(SELECT 1 FROM sightings WHERE visit_id = visits.id)",
                              before_ms);
  }

  Status Relabel(const std::string& id, Decision decision,
                 const std::optional<std::string>& person_id,
                 const std::string& image_key) override {
    return db_->Transaction([&](Connection& c) -> Status {
      ASSIGN_OR_RETURN(const SightingRecord current, LoadSighting(c, id));
      RETURN_IF_ERROR(CheckRelabel(current, decision, person_id));
      ASSIGN_OR_RETURN(Statement stmt, c.Prepare("UPDATE sightings SET decision = ?, "
                                                 "person_id = ?, image_key = ? WHERE id = ?"));
      stmt.BindText(ToString(decision));
      if (person_id) {
        stmt.BindText(*person_id);
      } else {
        stmt.BindNull();
      }
      RETURN_IF_ERROR(stmt.BindText(image_key).BindText(id).Run());
      if (!current.visit_id) return Status::Ok();
      ASSIGN_OR_RETURN(Statement visit, c.Prepare(kRebuildVisitPerson));
      return visit.BindInt(*current.visit_id).Run();
    });
  }

  Result<PersonErasure> ErasePerson(const std::string& person_id) override {
    PersonErasure out;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& c) -> Status {
      out = PersonErasure{};
      ASSIGN_OR_RETURN(Statement keys, c.Prepare("SELECT image_key FROM sightings WHERE "
                                                 "person_id = ? AND image_key <> ''"));
      RETURN_IF_ERROR(keys.BindText(person_id).ForEach([&](const Statement& row) {
        out.image_keys.push_back(row.ColumnText(0));
        return Status::Ok();
      }));
      ASSIGN_OR_RETURN(Statement sightings, c.Prepare("DELETE FROM sightings WHERE person_id = ?"));
      RETURN_IF_ERROR(sightings.BindText(person_id).Run());
      out.sightings = c.Changes();
      ASSIGN_OR_RETURN(Statement visits, c.Prepare("DELETE FROM visits WHERE person_id = ?"));
      RETURN_IF_ERROR(visits.BindText(person_id).Run());
      out.visits = c.Changes();
      return Status::Ok();
    }));
    return out;
  }

 private:
  Database* const db_;
};

}  // namespace

std::unique_ptr<SightingStore> NewSqliteSightingStore(Database* db) {
  return std::make_unique<SqliteSightingStore>(db);
}

}  // namespace concierge

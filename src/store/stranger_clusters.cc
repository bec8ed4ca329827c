#include "store/stranger_clusters.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/clock.h"

namespace concierge {

namespace {

constexpr int kMaxPage = 500;
constexpr const char* kColumns =
    "id, site, centroid, sightings, best_sighting_id, best_quality, first_ms, last_ms, state, "
    "person_id, resolved_by, resolved_ms";

Embedding Unit(Embedding v) {
  double norm = 0;
  for (float x : v) norm += double{x} * x;
  norm = std::sqrt(norm);
  if (norm > 0)
    for (float& x : v) x = static_cast<float>(x / norm);
  return v;
}

float Cosine(const Embedding& a, const Embedding& b) {
  double dot = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) dot += double{a[i]} * b[i];
  return static_cast<float>(dot);
}

Result<StrangerCluster> ReadCluster(const Statement& row) {
  StrangerCluster c;
  c.id = row.ColumnInt(0);
  c.site = row.ColumnText(1);
  const std::string_view blob = row.ColumnBlob(2);
  c.centroid.resize(blob.size() / sizeof(float));
  if (!blob.empty()) std::memcpy(c.centroid.data(), blob.data(), c.centroid.size() * sizeof(float));
  c.sightings = static_cast<int>(row.ColumnInt(3));
  c.best_sighting_id = row.ColumnText(4);
  c.best_quality = static_cast<float>(row.ColumnDouble(5));
  c.first_ms = row.ColumnInt(6);
  c.last_ms = row.ColumnInt(7);
  ASSIGN_OR_RETURN(c.state, ParseClusterState(row.ColumnText(8)));
  if (!row.ColumnIsNull(9)) c.person_id = row.ColumnText(9);
  c.resolved_by = row.ColumnText(10);
  c.resolved_ms = row.ColumnInt(11);
  return c;
}

std::string Select(const std::string& where) {
  return std::string("SELECT ") + kColumns + " FROM stranger_clusters " + where;
}

Result<StrangerCluster> GetIn(Connection& conn, int64_t id) {
  ASSIGN_OR_RETURN(Statement select, conn.Prepare(Select("WHERE id = ?")));
  select.BindInt(id);
  ASSIGN_OR_RETURN(const bool found, select.Step());
  if (!found) return Status::NotFound("no stranger cluster " + std::to_string(id));
  return ReadCluster(select);
}

// The cluster holding a sighting, if any.
Result<std::optional<int64_t>> ClusterOfIn(Connection& conn, const std::string& sighting_id) {
  ASSIGN_OR_RETURN(Statement select, conn.Prepare("SELECT cluster_id FROM cluster_sightings "
                                                  "WHERE sighting_id = ?"));
  select.BindText(sighting_id);
  ASSIGN_OR_RETURN(const bool found, select.Step());
  if (!found) return std::optional<int64_t>();
  return std::optional<int64_t>(select.ColumnInt(0));
}

// Sets the count and time span from the members.
Status Recount(Connection& conn, int64_t cluster_id) {
  ASSIGN_OR_RETURN(Statement update,
                   conn.Prepare("UPDATE stranger_clusters SET "
                                "sightings = (SELECT COUNT(*) FROM cluster_sightings WHERE "
                                "cluster_id = ?1), "
                                "first_ms = COALESCE((SELECT MIN(captured_ms) FROM "
                                "cluster_sightings WHERE cluster_id = ?1), first_ms), "
                                "last_ms = COALESCE((SELECT MAX(captured_ms) FROM "
                                "cluster_sightings WHERE cluster_id = ?1), last_ms) "
                                "WHERE id = ?1"));
  update.BindInt(cluster_id);
  return update.Run();
}

}  // namespace

const char* ToString(ClusterState state) {
  switch (state) {
    case ClusterState::kOpen: return "open";
    case ClusterState::kTagged: return "tagged";
    case ClusterState::kIgnored: return "ignored";
  }
  return "open";
}

Result<ClusterState> ParseClusterState(const std::string& text) {
  for (ClusterState s : {ClusterState::kOpen, ClusterState::kTagged, ClusterState::kIgnored})
    if (text == ToString(s)) return s;
  return Status::InvalidArgument("unknown cluster state '" + text + "'");
}

Result<Embedding> StrangerClusters::Probe(const SightingRecord& s) {
  if (s.decision != Decision::kUnknown || s.embedding.empty() || s.id.empty())
    return Status::InvalidArgument("sighting " + s.id +
                                   " is not a decided unknown face with an embedding");
  return Unit(s.embedding);
}

StrangerClusters::Placement StrangerClusters::Place(
    const SightingRecord& s, const Embedding& probe,
    const std::vector<StrangerCluster>& candidates) const {
  const StrangerCluster* best = nullptr;
  float best_similarity = threshold_;
  for (const StrangerCluster& c : candidates) {
    if (c.centroid.size() != probe.size()) continue;
    const float similarity = Cosine(c.centroid, probe);
    if (similarity >= best_similarity) {
      best_similarity = similarity;
      best = &c;
    }
  }
  Placement out;
  const float quality = s.quality.score;
  if (!best) {
    out.centroid = probe;
    out.best_sighting_id = s.id;
    out.best_quality = quality;
    return out;
  }
  // Running mean of unit vectors, re-normalised.
  Embedding centroid = best->centroid;
  for (size_t i = 0; i < centroid.size(); ++i)
    centroid[i] = centroid[i] * static_cast<float>(best->sightings) + probe[i];
  const bool better = best->best_sighting_id.empty() || quality > best->best_quality;
  out.join = best->id;
  out.centroid = Unit(std::move(centroid));
  out.best_sighting_id = better ? s.id : best->best_sighting_id;
  out.best_quality = better ? quality : best->best_quality;
  return out;
}

Status StrangerClusters::CheckLimit(int limit) {
  if (limit < 1 || limit > kMaxPage)
    return Status::InvalidArgument("limit must be 1.." + std::to_string(kMaxPage));
  return Status::Ok();
}

Result<StrangerClusters::Cursor> StrangerClusters::ParseCursor(const std::string& cursor) {
  Cursor out;
  if (cursor.empty()) return out;
  const size_t dot = cursor.find('.');
  const char* end = cursor.data() + cursor.size();
  const auto a = std::from_chars(cursor.data(), cursor.data() + std::min(dot, cursor.size()),
                                 out.last_ms);
  const auto b = dot == std::string::npos
                     ? std::from_chars_result{cursor.data(), std::errc::invalid_argument}
                     : std::from_chars(cursor.data() + dot + 1, end, out.id);
  if (a.ec != std::errc() || b.ec != std::errc() || b.ptr != end)
    return Status::InvalidArgument("bad cluster cursor '" + cursor + "'");
  return out;
}

void StrangerClusters::FinishPage(int limit, ClusterPage* page) {
  if (static_cast<int>(page->items.size()) <= limit) return;
  page->items.pop_back();
  page->next_cursor =
      std::to_string(page->items.back().last_ms) + "." + std::to_string(page->items.back().id);
}

Status StrangerClusters::CheckResolution(ClusterState state,
                                         const std::optional<std::string>& person_id) {
  if (state == ClusterState::kOpen || (state == ClusterState::kTagged) != person_id.has_value())
    return Status::InvalidArgument("a cluster is resolved as tagged (with a person) or ignored");
  return Status::Ok();
}

Result<bool> StrangerClusters::NeedsResolving(const StrangerCluster& c, ClusterState state,
                                              const std::optional<std::string>& person_id) {
  if (c.state == state && c.person_id == person_id) return false;
  if (c.state != ClusterState::kOpen)
    return Status::FailedPrecondition("cluster " + std::to_string(c.id) + " is already " +
                                      ToString(c.state));
  return true;
}

namespace {

class SqliteStrangerClusters final : public StrangerClusters {
 public:
  SqliteStrangerClusters(Database* db, float threshold, int64_t window_ms)
      : StrangerClusters(threshold, window_ms), db_(db) {}

  Result<ClusterAssignment> Assign(const SightingRecord& s) override {
    ASSIGN_OR_RETURN(const Embedding probe, Probe(s));
    ClusterAssignment out;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(const std::optional<int64_t> member, ClusterOfIn(conn, s.id));
      if (member) {
        ASSIGN_OR_RETURN(out.cluster, GetIn(conn, *member));
        return Status::Ok();
      }
      ASSIGN_OR_RETURN(Statement select,
                       conn.Prepare(Select("WHERE site = ? AND state IN ('open', 'ignored') AND "
                                           "last_ms >= ? AND first_ms <= ?")));
      select.BindText(s.site).BindInt(WindowFrom(s.captured_ms)).BindInt(WindowTo(s.captured_ms));
      std::vector<StrangerCluster> candidates;
      RETURN_IF_ERROR(select.ForEach([&](const Statement& row) -> Status {
        ASSIGN_OR_RETURN(StrangerCluster c, ReadCluster(row));
        candidates.push_back(std::move(c));
        return Status::Ok();
      }));
      const Placement place = Place(s, probe, candidates);
      int64_t cluster_id = 0;
      if (place.join) {
        ASSIGN_OR_RETURN(Statement update,
                         conn.Prepare("UPDATE stranger_clusters SET centroid = ?, "
                                      "best_sighting_id = ?, best_quality = ? WHERE id = ?"));
        update.BindBlob(place.centroid.data(), place.centroid.size() * sizeof(float))
            .BindText(place.best_sighting_id)
            .BindDouble(place.best_quality)
            .BindInt(*place.join);
        RETURN_IF_ERROR(update.Run());
        cluster_id = *place.join;
      } else {
        ASSIGN_OR_RETURN(Statement insert,
                         conn.Prepare("INSERT INTO stranger_clusters (site, centroid, dims, "
                                      "sightings, best_sighting_id, best_quality, first_ms, "
                                      "last_ms) VALUES (?, ?, ?, 0, ?, ?, ?, ?)"));
        insert.BindText(s.site)
            .BindBlob(place.centroid.data(), place.centroid.size() * sizeof(float))
            .BindInt(static_cast<int64_t>(place.centroid.size()))
            .BindText(place.best_sighting_id)
            .BindDouble(place.best_quality)
            .BindInt(s.captured_ms)
            .BindInt(s.captured_ms);
        RETURN_IF_ERROR(insert.Run());
        cluster_id = conn.LastInsertId();
        out.created = true;
      }
      ASSIGN_OR_RETURN(Statement add,
                       conn.Prepare("INSERT INTO cluster_sightings (sighting_id, cluster_id, "
                                    "captured_ms) VALUES (?, ?, ?)"));
      add.BindText(s.id).BindInt(cluster_id).BindInt(s.captured_ms);
      RETURN_IF_ERROR(add.Run());
      RETURN_IF_ERROR(Recount(conn, cluster_id));
      out.added = true;
      ASSIGN_OR_RETURN(out.cluster, GetIn(conn, cluster_id));
      return Status::Ok();
    }));
    return out;
  }

  Result<StrangerCluster> Get(int64_t id) override {
    return db_->WithConnection([&](Connection& conn) { return GetIn(conn, id); });
  }

  Result<ClusterPage> List(std::optional<ClusterState> state, int limit,
                           const std::string& cursor) override {
    RETURN_IF_ERROR(CheckLimit(limit));
    ASSIGN_OR_RETURN(const Cursor before, ParseCursor(cursor));
    ClusterPage page;
    RETURN_IF_ERROR(db_->ReadTransaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(Statement select,
                       conn.Prepare(Select("WHERE (?1 = '' OR state = ?1) AND (last_ms < ?2 OR "
                                           "(last_ms = ?2 AND id < ?3)) ORDER BY last_ms DESC, "
                                           "id DESC LIMIT ?4")));
      select.BindText(state ? ToString(*state) : "").BindInt(before.last_ms).BindInt(before.id)
          .BindInt(limit + 1);
      return select.ForEach([&](const Statement& row) -> Status {
        ASSIGN_OR_RETURN(StrangerCluster c, ReadCluster(row));
        page.items.push_back(std::move(c));
        return Status::Ok();
      });
    }));
    FinishPage(limit, &page);
    return page;
  }

  Result<std::vector<ClusterMember>> Sightings(int64_t cluster_id) override {
    std::vector<ClusterMember> members;
    RETURN_IF_ERROR(db_->ReadTransaction([&](Connection& conn) -> Status {
      RETURN_IF_ERROR(GetIn(conn, cluster_id).status());
      ASSIGN_OR_RETURN(Statement select,
                       conn.Prepare("SELECT sighting_id, captured_ms FROM cluster_sightings "
                                    "WHERE cluster_id = ? ORDER BY captured_ms, sighting_id"));
      select.BindInt(cluster_id);
      return select.ForEach([&](const Statement& row) {
        members.push_back({row.ColumnText(0), row.ColumnInt(1)});
        return Status::Ok();
      });
    }));
    return members;
  }

  Result<int> CountSightings(int64_t cluster_id, int64_t from_ms, int64_t to_ms) override {
    return db_->WithConnection([&](Connection& conn) -> Result<int> {
      ASSIGN_OR_RETURN(Statement count,
                       conn.Prepare("SELECT COUNT(*) FROM cluster_sightings WHERE cluster_id = "
                                    "? AND captured_ms BETWEEN ? AND ?"));
      count.BindInt(cluster_id).BindInt(from_ms).BindInt(to_ms);
      ASSIGN_OR_RETURN(const bool row, count.Step());
      return row ? static_cast<int>(count.ColumnInt(0)) : 0;
    });
  }

  Result<std::optional<int64_t>> ClusterOf(const std::string& sighting_id) override {
    return db_->WithConnection([&](Connection& conn) { return ClusterOfIn(conn, sighting_id); });
  }

  Result<bool> Resolve(int64_t id, ClusterState state, const std::optional<std::string>& person_id,
                       const std::string& actor) override {
    RETURN_IF_ERROR(CheckResolution(state, person_id));
    bool changed = false;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(const StrangerCluster c, GetIn(conn, id));
      ASSIGN_OR_RETURN(changed, NeedsResolving(c, state, person_id));
      if (!changed) return Status::Ok();
      ASSIGN_OR_RETURN(Statement update,
                       conn.Prepare("UPDATE stranger_clusters SET state = ?, person_id = ?, "
                                    "resolved_by = ?, resolved_ms = ? WHERE id = ?"));
      update.BindText(ToString(state));
      if (person_id) {
        update.BindText(*person_id);
      } else {
        update.BindNull();
      }
      return update.BindText(actor).BindInt(NowMs()).BindInt(id).Run();
    }));
    return changed;
  }

  Status RemoveSighting(const std::string& sighting_id) override {
    return db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(const std::optional<int64_t> cluster_id, ClusterOfIn(conn, sighting_id));
      if (!cluster_id) return Status::Ok();
      ASSIGN_OR_RETURN(Statement drop,
                       conn.Prepare("DELETE FROM cluster_sightings WHERE sighting_id = ?"));
      RETURN_IF_ERROR(drop.BindText(sighting_id).Run());
      RETURN_IF_ERROR(Recount(conn, *cluster_id));
      ASSIGN_OR_RETURN(Statement empty, conn.Prepare("DELETE FROM stranger_clusters WHERE id = "
                                                     "? AND sightings = 0"));
      return empty.BindInt(*cluster_id).Run();
    });
  }

  Result<std::vector<int64_t>> DeleteForPerson(const std::string& person_id) override {
    std::vector<int64_t> ids;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(Statement select,
                       conn.Prepare("SELECT id FROM stranger_clusters WHERE person_id = ?"));
      select.BindText(person_id);
      RETURN_IF_ERROR(select.ForEach([&](const Statement& row) {
        ids.push_back(row.ColumnInt(0));
        return Status::Ok();
      }));
      ASSIGN_OR_RETURN(Statement drop,
                       conn.Prepare("DELETE FROM stranger_clusters WHERE person_id = ?"));
      return drop.BindText(person_id).Run();
    }));
    return ids;
  }

  Result<int64_t> DeleteSeenBefore(int64_t before_ms) override {
    return db_->WithConnection([&](Connection& conn) -> Result<int64_t> {
      ASSIGN_OR_RETURN(Statement drop,
                       conn.Prepare("DELETE FROM stranger_clusters WHERE last_ms < ?"));
      RETURN_IF_ERROR(drop.BindInt(before_ms).Run());
      return conn.Changes();
    });
  }

 private:
  Database* const db_;
};

}  // namespace

std::unique_ptr<StrangerClusters> NewSqliteStrangerClusters(Database* db, float threshold,
                                                            int64_t window_ms) {
  return std::make_unique<SqliteStrangerClusters>(db, threshold, window_ms);
}

Result<std::unique_ptr<StrangerClusters>> OpenStrangerClusters(const DatabaseConfig& config,
                                                               Database* sqlite, float threshold,
                                                               int64_t window_ms) {
  if (config.kind == "postgres")
    return OpenPgStrangerClusters(config.postgres_url, threshold, window_ms);
  if (config.kind == "sqlite" && sqlite != nullptr)
    return NewSqliteStrangerClusters(sqlite, threshold, window_ms);
  return Status::InvalidArgument("database.kind '" + config.kind +
                                 "' is not sqlite (with its database) or postgres");
}

}  // namespace concierge

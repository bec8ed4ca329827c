#include "store/stranger_clusters.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>
#include <utility>

#include "core/clock.h"
#include "store/open_backend.h"

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

Status WriteSummary(Connection& conn, int64_t id, const StrangerClusters::Summary& summary) {
  ASSIGN_OR_RETURN(Statement update,
                   conn.Prepare("UPDATE stranger_clusters SET centroid = ?, "
                                "best_sighting_id = ?, best_quality = ? WHERE id = ?"));
  update.BindBlob(summary.centroid.data(), summary.centroid.size() * sizeof(float))
      .BindText(summary.best_sighting_id)
      .BindDouble(summary.best_quality)
      .BindInt(id);
  return update.Run();
}

// A new open cluster, its count and time span to be set by Recount.
Result<int64_t> InsertCluster(Connection& conn, const std::string& site,
                              const StrangerClusters::Summary& summary, int64_t captured_ms) {
  ASSIGN_OR_RETURN(Statement insert,
                   conn.Prepare("INSERT INTO stranger_clusters (site, centroid, dims, "
                                "sightings, best_sighting_id, best_quality, first_ms, "
                                "last_ms) VALUES (?, ?, ?, 0, ?, ?, ?, ?)"));
  insert.BindText(site)
      .BindBlob(summary.centroid.data(), summary.centroid.size() * sizeof(float))
      .BindInt(static_cast<int64_t>(summary.centroid.size()))
      .BindText(summary.best_sighting_id)
      .BindDouble(summary.best_quality)
      .BindInt(captured_ms)
      .BindInt(captured_ms);
  RETURN_IF_ERROR(insert.Run());
  return conn.LastInsertId();
}

// Moves the sightings of `from` into `into` and deletes `from`; `into` is recounted.
Status Absorb(Connection& conn, int64_t into, int64_t from) {
  ASSIGN_OR_RETURN(Statement move, conn.Prepare("UPDATE cluster_sightings SET cluster_id = ? "
                                                "WHERE cluster_id = ?"));
  RETURN_IF_ERROR(move.BindInt(into).BindInt(from).Run());
  ASSIGN_OR_RETURN(Statement drop, conn.Prepare("DELETE FROM stranger_clusters WHERE id = ?"));
  RETURN_IF_ERROR(drop.BindInt(from).Run());
  return Recount(conn, into);
}

Result<std::vector<ClusterMember>> MembersIn(Connection& conn, int64_t cluster_id) {
  std::vector<ClusterMember> members;
  ASSIGN_OR_RETURN(Statement select,
                   conn.Prepare("SELECT sighting_id, captured_ms FROM cluster_sightings "
                                "WHERE cluster_id = ? ORDER BY captured_ms, sighting_id"));
  select.BindInt(cluster_id);
  RETURN_IF_ERROR(select.ForEach([&](const Statement& row) {
    members.push_back({row.ColumnText(0), row.ColumnInt(1)});
    return Status::Ok();
  }));
  return members;
}

// Unit(a * weight_a + b * weight_b): the centroid of two groups of faces.
Embedding Blend(const Embedding& a, int weight_a, const Embedding& b, int weight_b) {
  Embedding out(a.size());
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    out[i] = a[i] * static_cast<float>(weight_a) + b[i] * static_cast<float>(weight_b);
  return Unit(std::move(out));
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
    out.summary = {probe, s.id, quality};
    return out;
  }
  Summary& joined = out.summary;
  joined.centroid = Blend(best->centroid, best->sightings, probe, 1);
  const bool better = best->best_sighting_id.empty() || quality > best->best_quality;
  joined.best_sighting_id = better ? s.id : best->best_sighting_id;
  joined.best_quality = better ? quality : best->best_quality;
  out.join = best->id;
  if (!merge_ || best->state != ClusterState::kOpen) return out;
  // The grown centroid may now agree with other open clusters: they were the
  // same stranger, seen before there was enough evidence to say so.
  int weight = best->sightings + 1;
  for (const StrangerCluster& c : candidates) {
    if (c.id == best->id || c.state != ClusterState::kOpen ||
        c.centroid.size() != probe.size() || Cosine(joined.centroid, c.centroid) < threshold_)
      continue;
    joined.centroid = Blend(joined.centroid, weight, c.centroid, c.sightings);
    weight += c.sightings;
    if (!c.best_sighting_id.empty() && c.best_quality > joined.best_quality) {
      joined.best_sighting_id = c.best_sighting_id;
      joined.best_quality = c.best_quality;
    }
    out.absorb.push_back(c.id);
  }
  // The oldest cluster survives, so the question already asked stays the one.
  if (!out.absorb.empty()) {
    auto oldest = std::min_element(out.absorb.begin(), out.absorb.end());
    if (*oldest < *out.join) std::swap(*oldest, *out.join);
  }
  return out;
}

Result<StrangerClusters::Summary> StrangerClusters::Combine(const StrangerCluster& into,
                                                           const StrangerCluster& from) {
  if (into.id == from.id)
    return Status::InvalidArgument("cannot merge cluster " + std::to_string(into.id) +
                                   " with itself");
  for (const StrangerCluster* c : {&into, &from}) {
    if (c->state != ClusterState::kOpen)
      return Status::FailedPrecondition("cluster " + std::to_string(c->id) + " is " +
                                        ToString(c->state) + "; only open clusters merge");
  }
  if (into.centroid.size() != from.centroid.size())
    return Status::FailedPrecondition("clusters " + std::to_string(into.id) + " and " +
                                      std::to_string(from.id) + " hold different embeddings");
  Summary out{Blend(into.centroid, into.sightings, from.centroid, from.sightings),
              into.best_sighting_id, into.best_quality};
  if (!from.best_sighting_id.empty() &&
      (out.best_sighting_id.empty() || from.best_quality > out.best_quality)) {
    out.best_sighting_id = from.best_sighting_id;
    out.best_quality = from.best_quality;
  }
  return out;
}

Result<std::pair<StrangerClusters::Summary, StrangerClusters::Summary>> StrangerClusters::Divide(
    const StrangerCluster& cluster, const std::vector<std::string>& stored_ids,
    const std::vector<SightingRecord>& members, const std::vector<std::string>& moving) {
  const std::string name = "cluster " + std::to_string(cluster.id);
  if (cluster.state != ClusterState::kOpen)
    return Status::FailedPrecondition(name + " is " + ToString(cluster.state) +
                                      "; only open clusters split");
  const std::set<std::string> stored(stored_ids.begin(), stored_ids.end());
  const std::set<std::string> move(moving.begin(), moving.end());
  if (move.empty()) return Status::InvalidArgument("name at least one sighting to split off");
  for (const std::string& id : move)
    if (!stored.count(id)) return Status::InvalidArgument("sighting " + id + " is not in " + name);
  if (move.size() >= stored.size())
    return Status::InvalidArgument("leave at least one sighting in " + name);
  std::set<std::string> given;
  for (const SightingRecord& m : members) given.insert(m.id);
  if (given != stored || members.size() != stored.size())
    return Status::FailedPrecondition(name + " changed meanwhile; read its sightings again");

  // Mean of the members' unit embeddings; best picture: the highest quality.
  auto summarise = [&](bool moved) -> Result<Summary> {
    Summary out;
    Embedding sum(cluster.centroid.size(), 0.f);
    bool any = false;
    for (const SightingRecord& m : members) {
      if (move.count(m.id) != static_cast<size_t>(moved)) continue;
      if (out.best_sighting_id.empty() || m.quality.score > out.best_quality) {
        out.best_sighting_id = m.id;
        out.best_quality = m.quality.score;
      }
      if (m.embedding.size() != sum.size()) continue;
      const Embedding unit = Unit(m.embedding);
      for (size_t i = 0; i < sum.size(); ++i) sum[i] += unit[i];
      any = true;
    }
    if (!any)
      return Status::FailedPrecondition("the sightings " +
                                        std::string(moved ? "split off" : "left in " + name) +
                                        " have no embedding of the cluster's model");
    out.centroid = Unit(std::move(sum));
    return out;
  };
  ASSIGN_OR_RETURN(Summary staying, summarise(false));
  ASSIGN_OR_RETURN(Summary moved, summarise(true));
  return std::make_pair(std::move(staying), std::move(moved));
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
  SqliteStrangerClusters(Database* db, float threshold, int64_t window_ms, bool merge)
      : StrangerClusters(threshold, window_ms, merge), db_(db) {}

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
        cluster_id = *place.join;
        RETURN_IF_ERROR(WriteSummary(conn, cluster_id, place.summary));
        for (int64_t absorbed : place.absorb) RETURN_IF_ERROR(Absorb(conn, cluster_id, absorbed));
        out.merged = place.absorb;
      } else {
        ASSIGN_OR_RETURN(cluster_id, InsertCluster(conn, s.site, place.summary, s.captured_ms));
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
      ASSIGN_OR_RETURN(members, MembersIn(conn, cluster_id));
      return Status::Ok();
    }));
    return members;
  }

  Result<StrangerCluster> Merge(int64_t into, int64_t from) override {
    StrangerCluster merged;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(const StrangerCluster target, GetIn(conn, into));
      ASSIGN_OR_RETURN(const StrangerCluster source, GetIn(conn, from));
      ASSIGN_OR_RETURN(const Summary summary, Combine(target, source));
      RETURN_IF_ERROR(WriteSummary(conn, into, summary));
      RETURN_IF_ERROR(Absorb(conn, into, from));
      ASSIGN_OR_RETURN(merged, GetIn(conn, into));
      return Status::Ok();
    }));
    return merged;
  }

  Result<StrangerCluster> Split(int64_t id, const std::vector<SightingRecord>& members,
                                const std::vector<std::string>& moving) override {
    StrangerCluster created;
    RETURN_IF_ERROR(db_->Transaction([&](Connection& conn) -> Status {
      ASSIGN_OR_RETURN(const StrangerCluster cluster, GetIn(conn, id));
      ASSIGN_OR_RETURN(const std::vector<ClusterMember> stored, MembersIn(conn, id));
      std::vector<std::string> stored_ids;
      for (const ClusterMember& m : stored) stored_ids.push_back(m.sighting_id);
      ASSIGN_OR_RETURN(const auto parts, Divide(cluster, stored_ids, members, moving));
      RETURN_IF_ERROR(WriteSummary(conn, id, parts.first));
      ASSIGN_OR_RETURN(const int64_t new_id,
                       InsertCluster(conn, cluster.site, parts.second, cluster.last_ms));
      ASSIGN_OR_RETURN(Statement move, conn.Prepare("UPDATE cluster_sightings SET cluster_id = ? "
                                                    "WHERE sighting_id = ?"));
      for (const std::string& sighting : moving) {
        move.Reset();
        RETURN_IF_ERROR(move.BindInt(new_id).BindText(sighting).Run());
      }
      RETURN_IF_ERROR(Recount(conn, id));
      RETURN_IF_ERROR(Recount(conn, new_id));
      ASSIGN_OR_RETURN(created, GetIn(conn, new_id));
      return Status::Ok();
    }));
    return created;
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
    return db_->RowsChangedBy("DELETE FROM stranger_clusters WHERE last_ms < ?", before_ms);
  }

 private:
  Database* const db_;
};

}  // namespace

std::unique_ptr<StrangerClusters> NewSqliteStrangerClusters(Database* db, float threshold,
                                                            int64_t window_ms, bool merge) {
  return std::make_unique<SqliteStrangerClusters>(db, threshold, window_ms, merge);
}

Result<std::unique_ptr<StrangerClusters>> OpenStrangerClusters(const DatabaseConfig& config,
                                                               Database* sqlite, float threshold,
                                                               int64_t window_ms) {
  return OpenBackend<StrangerClusters>(
      config, sqlite,
      [&](const std::string& url) { return OpenPgStrangerClusters(url, threshold, window_ms); },
      [&](Database* db) { return NewSqliteStrangerClusters(db, threshold, window_ms); });
}

}  // namespace concierge

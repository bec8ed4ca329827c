// Stranger clusters ("who is this?"): listing, tagging, ignoring, and merging
// and splitting by hand.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

#include "http/api_support.h"
#include "http/data_routes.h"
#include "http/resource_json.h"
#include "http/route_support.h"
#include "pipeline/train.h"
#include "store/sighting_store.h"
#include "store/stranger_clusters.h"

namespace concierge {

namespace {

using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

class UnknownRoutes {
 public:
  explicit UnknownRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void Register(httplib::Server& server, const std::shared_ptr<UnknownRoutes>& self) {
    server.Get("/api/v1/unknowns",
               Route(self, ctx_, Role::kViewer, &UnknownRoutes::ListUnknowns));
    server.Post("/api/v1/unknowns/([^/]+)/tag",
                Route(self, ctx_, Role::kAdmin, &UnknownRoutes::TagUnknown));
    server.Post("/api/v1/unknowns/([^/]+)/ignore",
                Route(self, ctx_, Role::kAdmin, &UnknownRoutes::IgnoreUnknown));
    server.Get("/api/v1/unknowns/([^/]+)",
               Route(self, ctx_, Role::kViewer, &UnknownRoutes::GetUnknown));
    server.Get("/api/v1/unknowns/([^/]+)/sightings",
               Route(self, ctx_, Role::kViewer, &UnknownRoutes::ListClusterSightings));
    server.Post("/api/v1/unknowns/([^/]+)/merge",
                Route(self, ctx_, Role::kAdmin, &UnknownRoutes::MergeUnknowns));
    server.Post("/api/v1/unknowns/([^/]+)/split",
                Route(self, ctx_, Role::kAdmin, &UnknownRoutes::SplitUnknown));
  }

 private:
  void ListUnknowns(const Request& req, Response& res, const Principal& who);
  void TagUnknown(const Request& req, Response& res, const Principal& who);
  void IgnoreUnknown(const Request& req, Response& res, const Principal& who);
  void GetUnknown(const Request& req, Response& res, const Principal& who);
  void ListClusterSightings(const Request& req, Response& res, const Principal& who);
  void MergeUnknowns(const Request& req, Response& res, const Principal& who);
  void SplitUnknown(const Request& req, Response& res, const Principal& who);

  json ClusterJson(const StrangerCluster& c) const;

  const ApiContext ctx_;
};

json UnknownRoutes::ClusterJson(const StrangerCluster& c) const {
  const bool has_best = !c.best_sighting_id.empty();
  return {{"id", c.id},
          {"site", c.site},
          {"sightings", c.sightings},
          {"first", IsoOrNull(c.first_ms)},
          {"last", IsoOrNull(c.last_ms)},
          {"first_ms", c.first_ms},
          {"last_ms", c.last_ms},
          {"best_sighting_id", has_best ? json(c.best_sighting_id) : json(nullptr)},
          {"image_url", has_best && c.state != ClusterState::kIgnored &&
                                !ctx_.config->retention.embeddings_only
                            ? json("/api/v1/sightings/" + c.best_sighting_id + "/image")
                            : json(nullptr)},
          {"state", ToString(c.state)},
          {"person", PersonRefJson(ctx_, c.person_id)}};
}

void UnknownRoutes::ListUnknowns(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.clusters, "stranger clustering", res)) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  std::optional<ClusterState> state;
  if (req.has_param("state")) {
    auto parsed = ParseClusterState(req.get_param_value("state"));
    if (!parsed.ok())
      return SendError(res, Status::InvalidArgument("state must be open, tagged or ignored"));
    state = *parsed;
  }
  auto list = ctx_.clusters->List(state, page->limit, page->cursor);
  if (!list.ok()) return SendError(res, list.status());
  json items = json::array();
  for (const auto& c : list->items) items.push_back(ClusterJson(c));
  SendJson(res, PageJson(std::move(items), list->next_cursor));
}

void UnknownRoutes::TagUnknown(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.trainer, "training", res) || !Have(ctx_.clusters, "stranger clustering", res))
    return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  PersonChoice choice;
  if (body->contains("person_id")) {
    const json& person = (*body)["person_id"];
    if (!person.is_string())
      return SendError(res, Status::InvalidArgument("person_id must be a string"));
    choice.person_id = person.get<std::string>();
    if (Status s = ValidateStoreId(choice.person_id); !s.ok()) return SendError(res, s);
  } else if (body->contains("name")) {
    auto name = ReadDisplayName(*body, res);
    if (!name) return;
    choice.display_name = *name;
  } else {
    return SendError(res, Status::InvalidArgument("give person_id (existing) or name (new)"));
  }
  auto tagged = ctx_.trainer->TagCluster(*id, choice, who.actor);
  if (!tagged.ok()) return SendError(res, tagged.status());
  auto cluster = ctx_.clusters->Get(*id);
  if (!cluster.ok()) return SendError(res, cluster.status());
  json out = ClusterJson(*cluster);
  out["person_created"] = tagged->person_created;
  out["faces_indexed"] = tagged->faces_indexed;
  out["faces_skipped"] = tagged->faces_skipped;
  SendJson(res, out);
}

void UnknownRoutes::IgnoreUnknown(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.trainer, "training", res)) return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  if (Status s = ctx_.trainer->IgnoreCluster(*id, who.actor); !s.ok()) return SendError(res, s);
  res.status = 204;
}

void UnknownRoutes::GetUnknown(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.clusters, "stranger clustering", res)) return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  auto cluster = ctx_.clusters->Get(*id);
  if (!cluster.ok()) return SendError(res, cluster.status());
  SendJson(res, ClusterJson(*cluster));
}

// The cluster's sightings, newest first, paged by position.
void UnknownRoutes::ListClusterSightings(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.clusters, "stranger clustering", res) ||
      !Have(ctx_.sightings, "the sighting store", res))
    return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  auto page = ReadPage(req, res);
  if (!page) return;
  size_t skip = 0;
  if (!page->cursor.empty()) {
    auto parsed = ParseBoundedInt(page->cursor, 0, INT32_MAX);
    if (!parsed) return SendError(res, Status::InvalidArgument("cursor is not from this list"));
    skip = static_cast<size_t>(*parsed);
  }
  auto members = ctx_.clusters->Sightings(*id);
  if (!members.ok()) return SendError(res, members.status());
  std::reverse(members->begin(), members->end());
  json items = json::array();
  size_t next = skip;
  for (; next < members->size() && items.size() < static_cast<size_t>(page->limit); ++next) {
    auto s = ctx_.sightings->Get((*members)[next].sighting_id);
    if (!s.ok()) return SendError(res, s.status());
    items.push_back(SightingResourceJson(ctx_, *s));
  }
  SendJson(res, PageJson(std::move(items), next < members->size() ? std::to_string(next) : ""));
}

void UnknownRoutes::MergeUnknowns(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.trainer, "training", res)) return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  constexpr size_t kMaxMerge = 100;
  const auto from = body->find("from");
  if (from == body->end() || !from->is_array() || from->empty() || from->size() > kMaxMerge)
    return SendError(res, Status::InvalidArgument("from must be a list of 1.." +
                                                  std::to_string(kMaxMerge) + " cluster ids"));
  std::vector<int64_t> ids;
  for (const json& item : *from) {
    if (!item.is_number_integer() || item.get<int64_t>() <= 0)
      return SendError(res, Status::InvalidArgument("from must hold positive cluster ids"));
    ids.push_back(item.get<int64_t>());
  }
  auto merged = ctx_.trainer->MergeClusters(*id, ids, who.actor);
  if (!merged.ok()) return SendError(res, merged.status());
  SendJson(res, ClusterJson(*merged));
}

void UnknownRoutes::SplitUnknown(const Request& req, Response& res, const Principal& who) {
  if (!Have(ctx_.trainer, "training", res)) return;
  auto id = ReadPathInt(req, res);
  if (!id) return;
  auto body = ReadJsonObject(req, res);
  if (!body) return;
  constexpr size_t kMaxSplit = 500;
  const auto sightings = body->find("sightings");
  if (sightings == body->end() || !sightings->is_array() || sightings->empty() ||
      sightings->size() > kMaxSplit)
    return SendError(res, Status::InvalidArgument("sightings must be a list of 1.." +
                                                  std::to_string(kMaxSplit) + " sighting ids"));
  std::vector<std::string> ids;
  for (const json& item : *sightings) {
    if (!item.is_string())
      return SendError(res, Status::InvalidArgument("sightings must hold sighting ids"));
    ids.push_back(item.get<std::string>());
    if (Status s = ValidateStoreId(ids.back()); !s.ok()) return SendError(res, s);
  }
  auto created = ctx_.trainer->SplitCluster(*id, ids, who.actor);
  if (!created.ok()) return SendError(res, created.status());
  SendJson(res, ClusterJson(*created), 201);
}

}  // namespace

void RegisterUnknownRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<UnknownRoutes>(ctx);
  routes->Register(server, routes);
}

}  // namespace concierge

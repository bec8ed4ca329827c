// Stranger clusters ("who is this?"): listing, tagging and ignoring.
#include <memory>
#include <optional>
#include <string>

#include <httplib.h>

#include "http/api_support.h"
#include "http/data_routes.h"
#include "http/resource_json.h"
#include "http/route_support.h"
#include "pipeline/train.h"
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
  }

 private:
  void ListUnknowns(const Request& req, Response& res, const Principal& who);
  void TagUnknown(const Request& req, Response& res, const Principal& who);
  void IgnoreUnknown(const Request& req, Response& res, const Principal& who);

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
          {"image_url", has_best && c.state != ClusterState::kIgnored
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

}  // namespace

void RegisterUnknownRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<UnknownRoutes>(ctx);
  routes->Register(server, routes);
}

}  // namespace concierge

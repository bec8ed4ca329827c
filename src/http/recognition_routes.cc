// Recognition of an uploaded photo, and search of the timeline by a photo.
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

#include "http/api_support.h"
#include "http/data_routes.h"
#include "http/resource_json.h"
#include "http/route_support.h"
#include "pipeline/face_search.h"
#include "pipeline/matcher.h"
#include "store/sighting_store.h"
#include "vision/face_engine.h"

namespace concierge {

namespace {

using httplib::Request;
using httplib::Response;
using json = nlohmann::json;

json LiveScore(float live) { return live < 0 ? json(nullptr) : json(live); }

class RecognitionRoutes {
 public:
  explicit RecognitionRoutes(const ApiContext& ctx) : ctx_(ctx) {}

  void Register(httplib::Server& server, const std::shared_ptr<RecognitionRoutes>& self) {
    server.Post("/api/v1/recognize",
                Route(self, ctx_, Role::kViewer, &RecognitionRoutes::Recognize));
    server.Post("/api/v1/search",
                Route(self, ctx_, Role::kViewer, &RecognitionRoutes::SearchByPhoto));
  }

 private:
  void Recognize(const Request& req, Response& res, const Principal& who);
  void SearchByPhoto(const Request& req, Response& res, const Principal& who);

  // The one decoded image of a recognize or search request, or nullopt after an error.
  std::optional<cv::Mat> ReadOneImage(const Request& req, Response& res) const;

  const ApiContext ctx_;
};

std::optional<cv::Mat> RecognitionRoutes::ReadOneImage(const Request& req, Response& res) const {
  auto uploads = ReadUploads(ctx_, req, res);
  if (!uploads) return std::nullopt;
  if (uploads->size() != 1) {
    SendError(res, Status::InvalidArgument("send exactly one image"));
    return std::nullopt;
  }
  auto image = DecodeImage(uploads->front().bytes, UploadLimits(ctx_));
  if (!image.ok()) {
    SendError(res, image.status());
    return std::nullopt;
  }
  return std::move(*image);
}

void RecognitionRoutes::Recognize(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.matcher, "the face collection", res) || !Have(ctx_.engine, "face analysis", res))
    return;
  auto image = ReadOneImage(req, res);
  if (!image) return;
  auto faces = ctx_.engine->Analyze(*image, {.embed = EmbedWith::kPrimary, .anti_spoof = true});
  if (!faces.ok()) return SendError(res, faces.status());
  json out = json::array();
  for (auto& f : *faces) {
    json face = {{"box",
                  {{"x", std::lround(f.box.x)},
                   {"y", std::lround(f.box.y)},
                   {"w", std::lround(f.box.w)},
                   {"h", std::lround(f.box.h)}}},
                 {"human", f.human},
                 {"human_score", f.human_score},
                 {"person", nullptr},
                 {"similarity", nullptr},
                 {"quality", QualityJson(f.quality, ctx_.config->quality)},
                 {"live_score", LiveScore(f.live_score)}};
    if (f.human) {
      std::vector<FaceView> views{{*image, f}};
      auto decision = ctx_.matcher->Decide(*ctx_.engine, views);
      if (!decision.ok()) return SendError(res, decision.status());
      // An unknown face names nobody, not even the runner-up.
      if (decision->person_id) face["person"] = PersonRefJson(ctx_, *decision->person_id);
      if (decision->similarity) face["similarity"] = *decision->similarity;
    }
    out.push_back(std::move(face));
  }
  SendJson(res, {{"faces", std::move(out)}});
}

void RecognitionRoutes::SearchByPhoto(const Request& req, Response& res, const Principal&) {
  if (!Have(ctx_.matcher, "the face collection", res) || !Have(ctx_.engine, "face analysis", res) ||
      !Have(ctx_.sightings, "the sighting store", res))
    return;
  auto image = ReadOneImage(req, res);
  if (!image) return;
  auto probe = SearchProbe(*ctx_.engine, *image);
  if (!probe.ok()) return SendError(res, probe.status());
  auto hits = FindVisitsOfFace(*ctx_.sightings, *probe,
                               ctx_.matcher->calibration().same_person_threshold, 0, 0);
  if (!hits.ok()) return SendError(res, hits.status());
  json items = json::array();
  for (const VisitHit& hit : *hits) {
    auto visit = VisitHitJson(ctx_, hit);
    if (!visit.ok()) return SendError(res, visit.status());
    items.push_back(std::move(*visit));
  }
  SendJson(res, {{"items", std::move(items)}});
}

}  // namespace

void RegisterRecognitionRoutes(httplib::Server& server, const ApiContext& ctx) {
  auto routes = std::make_shared<RecognitionRoutes>(ctx);
  routes->Register(server, routes);
}

}  // namespace concierge

#include "notify/home_assistant.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace concierge {

namespace {

using json = nlohmann::json;

const json& Device() {
  static const json device = {{"identifiers", json::array({"concierge"})},
                              {"name", "Concierge"},
                              {"manufacturer", "Concierge"},
                              {"model", "face-recognition concierge"}};
  return device;
}

std::string PersonStateTopic(const std::string& object) {
  return "concierge/ha/person/" + object + "/presence";
}
std::string CameraStateTopic(const std::string& object) {
  return "concierge/ha/camera/" + object + "/last_stranger";
}

}  // namespace

std::string HomeAssistantObjectId(const std::string& name) {
  std::string out;
  for (char c : name)
    out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_');
  return out;
}

HomeAssistantDiscovery::HomeAssistantDiscovery(const Config& config, Bus* bus,
                                               const FaceCollection* faces,
                                               TrainingObserver* next,
                                               std::chrono::milliseconds retry_interval)
    : prefix_(config.notify.home_assistant_prefix),
      off_delay_s_(config.serve.visit_window_s),
      bus_(bus),
      faces_(faces),
      next_(next),
      retry_interval_(retry_interval) {}

HomeAssistantDiscovery::~HomeAssistantDiscovery() { Stop(); }

Status HomeAssistantDiscovery::Start(const std::vector<std::string>& cameras) {
  ASSIGN_OR_RETURN(const std::vector<Person> people, faces_->ListPersons());
  for (const Person& p : people) AnnouncePerson(p.id, p.display_name);
  for (const std::string& c : cameras) AnnounceCamera(c);
  std::lock_guard lock(mu_);
  if (!retry_.joinable())
    retry_ = std::jthread([this](std::stop_token stop) { RetryLoop(stop); });
  return Status::Ok();
}

void HomeAssistantDiscovery::Stop() {
  retry_.request_stop();
  if (retry_.joinable()) retry_.join();
}

size_t HomeAssistantDiscovery::pending() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

void HomeAssistantDiscovery::RetryLoop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(mu_);
      retry_cv_.wait_for(lock, stop, retry_interval_, [] { return false; });
      if (stop.stop_requested()) return;
      if (pending_.empty()) continue;
    }
    SendPending();
  }
}

void HomeAssistantDiscovery::Retain(const std::string& topic, const std::string& payload) {
  {
    std::lock_guard lock(mu_);
    pending_[topic] = payload;
  }
  SendPending();
}

void HomeAssistantDiscovery::SendPending() {
  std::lock_guard sending(send_mu_);
  std::map<std::string, std::string> batch;
  {
    std::lock_guard lock(mu_);
    batch = pending_;
  }
  for (const auto& [topic, payload] : batch) {
    const Status sent = bus_->Publish({topic, payload, 1, true});
    // Down or stopped: all of it waits for the next try.
    if (sent.code() == Status::Code::kUnavailable ||
        sent.code() == Status::Code::kFailedPrecondition)
      return;
    if (!sent.ok())
      spdlog::error("home assistant: the broker refuses {}: {}", topic, sent.ToString());
    std::lock_guard lock(mu_);
    const auto it = pending_.find(topic);
    if (it != pending_.end() && it->second == payload) pending_.erase(it);
  }
}

void HomeAssistantDiscovery::AnnouncePerson(const std::string& person_id,
                                            const std::string& name) {
  const std::string object = HomeAssistantObjectId(person_id);
  {
    std::lock_guard lock(mu_);
    people_.insert(person_id);
  }
  Retain(prefix_ + "/binary_sensor/concierge/" + object + "_presence/config",
         json{{"name", name + " present"},
              {"unique_id", "concierge_" + object + "_presence"},
              {"object_id", "concierge_" + object + "_presence"},
              {"device_class", "presence"},
              {"state_topic", PersonStateTopic(object)},
              {"payload_on", "ON"},
              {"payload_off", "OFF"},
              {"off_delay", off_delay_s_},
              {"device", Device()}}
             .dump());
}

void HomeAssistantDiscovery::AnnounceCamera(const std::string& camera) {
  const std::string object = HomeAssistantObjectId(camera);
  {
    std::lock_guard lock(mu_);
    cameras_.insert(camera);
  }
  Retain(prefix_ + "/sensor/concierge/" + object + "_last_stranger/config",
         json{{"name", camera + " last stranger"},
              {"unique_id", "concierge_" + object + "_last_stranger"},
              {"object_id", "concierge_" + object + "_last_stranger"},
              {"device_class", "timestamp"},
              {"state_topic", CameraStateTopic(object)},
              {"device", Device()}}
             .dump());
}

Status HomeAssistantDiscovery::HandleEvent(const Event& event) {
  const auto* e = std::get_if<SightingEvent>(&event);
  if (!e || e->kind != SightingEvent::Kind::kDecided) return Status::Ok();
  const SightingRecord& s = e->sighting;
  bool person_known = false, camera_known = false;
  {
    std::lock_guard lock(mu_);
    person_known = s.person_id && people_.count(*s.person_id);
    camera_known = cameras_.count(s.camera) > 0;
  }
  if (s.decision == Decision::kKnown && s.person_id) {
    if (!person_known) {
      ASSIGN_OR_RETURN(const Person p, faces_->GetPerson(*s.person_id));
      AnnouncePerson(p.id, p.display_name);
    }
    Retain(PersonStateTopic(HomeAssistantObjectId(*s.person_id)), "ON");
  } else if (s.decision == Decision::kUnknown) {
    if (!camera_known) AnnounceCamera(s.camera);
    Retain(CameraStateTopic(HomeAssistantObjectId(s.camera)), FormatIsoUtc(s.captured_ms));
  }
  return Status::Ok();
}

void HomeAssistantDiscovery::ClusterResolved(const StrangerCluster& cluster,
                                             const std::string& actor) {
  if (next_) next_->ClusterResolved(cluster, actor);
}

void HomeAssistantDiscovery::SightingDisowned(const SightingRecord& sighting,
                                              const std::string& person_id,
                                              const std::string& actor) {
  if (next_) next_->SightingDisowned(sighting, person_id, actor);
}

void HomeAssistantDiscovery::ClustersMerged(const StrangerCluster& into,
                                            const std::vector<int64_t>& from,
                                            const std::string& actor) {
  if (next_) next_->ClustersMerged(into, from, actor);
}

void HomeAssistantDiscovery::ClusterSplit(const StrangerCluster& from,
                                          const StrangerCluster& created,
                                          const std::string& actor) {
  if (next_) next_->ClusterSplit(from, created, actor);
}

void HomeAssistantDiscovery::PersonForgotten(const std::string& person_id,
                                             const std::vector<int64_t>& clusters) {
  if (next_) next_->PersonForgotten(person_id, clusters);
  {
    std::lock_guard lock(mu_);
    people_.erase(person_id);
  }
  const std::string object = HomeAssistantObjectId(person_id);
  // An empty retained config removes the entity; an empty state clears the broker's copy.
  Retain(prefix_ + "/binary_sensor/concierge/" + object + "_presence/config", "");
  Retain(PersonStateTopic(object), "");
}

}  // namespace concierge

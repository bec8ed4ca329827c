#include "notify/notifier.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <tuple>
#include <utility>

#include <spdlog/spdlog.h>

#include "core/clock.h"
#include "notify/mqtt_events.h"
#include "notify/slack_communicator.h"
#include "notify/webhook.h"
#include "vision/face_quality.h"

namespace concierge {

namespace {

using nlohmann::json;

int LocalMinuteOfDay(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm.tm_hour * 60 + tm.tm_min;
}

bool IsNotFound(const Status& s) { return s.code() == Status::Code::kNotFound; }

// Outbox keys: a visit's greeting, and a later visit joining it (an update
// of that message naming one more person).
std::string GreetKey(int64_t visit_id) { return "slack:greet:" + std::to_string(visit_id); }
std::string AskKey(int64_t cluster_id) { return "slack:ask:" + std::to_string(cluster_id); }
std::string JoinKey(int64_t greeted_visit_id, int64_t joining_visit_id) {
  return GreetKey(greeted_visit_id) + ":with:" + std::to_string(joining_visit_id);
}

// Renders fail permanently when what they show is gone (ignored, forgotten).
Status Gone(const Status& s) {
  return IsNotFound(s) ? Status::FailedPrecondition(s.message()) : s;
}

std::string SlackFileOf(const json& message) {
  for (const auto& b : message.value("blocks", json::array()))
    if (b.value("block_id", "") == kCropBlockId && b.contains("slack_file"))
      return b["slack_file"].value("id", "");
  return "";
}

}  // namespace

bool DailyWindow::Contains(int64_t ms) const {
  const int m = LocalMinuteOfDay(ms);
  if (start_min <= end_min) return m >= start_min && m < end_min;
  return m >= start_min || m < end_min;
}

Result<std::optional<DailyWindow>> ParseDailyWindow(const std::string& text) {
  if (text.empty()) return std::optional<DailyWindow>();
  int h1 = -1, m1 = -1, h2 = -1, m2 = -1;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%d:%d-%d:%d%c", &h1, &m1, &h2, &m2, &tail) != 4 || h1 < 0 ||
      h1 > 24 || h2 < 0 || h2 > 24 || m1 < 0 || m1 > 59 || m2 < 0 || m2 > 59)
    return Status::InvalidArgument("time window '" + text + "' is not HH:MM-HH:MM");
  return std::optional<DailyWindow>(DailyWindow{h1 * 60 + m1, h2 * 60 + m2});
}

int64_t LocalDayStartMs(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  tm.tm_isdst = -1;
  return static_cast<int64_t>(std::mktime(&tm)) * 1000;
}

bool Notifier::Wanted(const Config& config) {
  const NotifyConfig& n = config.notify;
  return (!n.slack_bot_token.empty() && !n.slack_channel.empty()) || !n.webhook_url.empty() ||
         n.mqtt_events;
}

Result<std::unique_ptr<Notifier>> Notifier::Create(const Config& config, NotifierParts parts) {
  if (!parts.outbox || !parts.sightings || !parts.objects || !parts.faces || !parts.clusters)
    return Status::InvalidArgument("notifier: missing parts");
  Windows windows;
  ASSIGN_OR_RETURN(windows.quiet, ParseDailyWindow(config.notify.quiet_hours));
  ASSIGN_OR_RETURN(windows.office, ParseDailyWindow(config.notify.office_hours));
  if (!parts.slack && !config.notify.slack_bot_token.empty())
    parts.slack = std::make_shared<SlackClient>(SlackClientOptionsFromConfig(config.notify));
  if (config.notify.slack_channel.empty()) parts.slack = nullptr;
  return std::unique_ptr<Notifier>(new Notifier(config, std::move(parts), windows));
}

Notifier::Notifier(const Config& config, NotifierParts parts, Windows windows)
    : config_(config),
      parts_(std::move(parts)),
      windows_(windows),
      outbox_depth_(Metrics().gauge("concierge_outbox_depth",
                                    "Notifications waiting in the outbox (pending or sending)")),
      capture_to_notify_(Metrics().histogram(
          "concierge_capture_to_notify_seconds",
          "From a face's capture to its Slack greeting, question or alert being posted")) {
  if (parts_.slack) {
    ObjectStore* objects = parts_.objects;
    dispatcher_.Add(std::make_shared<SlackCommunicator>(
        parts_.slack, config_.notify.slack_channel,
        [objects](const std::string& key) { return objects->Get(key); }));
  }
  if (!config_.notify.webhook_url.empty())
    dispatcher_.Add(
        std::make_shared<WebhookCommunicator>(WebhookOptionsFromConfig(config_.notify)));
  outbox_ = std::make_unique<Outbox>(
      *parts_.outbox, [this](const OutboxItem& item) { return Deliver(item); },
      OutboxOptionsFromConfig(config_.notify));
}

Notifier::~Notifier() { Stop(); }

void Notifier::Listen() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_ || subscription_ != 0 || !parts_.events) return;
  subscription_ = parts_.events->Subscribe([this](const Event& event) {
    if (Status st = HandleEvent(event); !st.ok())
      spdlog::error("notify: event={} error={}", EventName(event), st.ToString());
  });
}

void Notifier::Start(Bus* bus) {
  Listen();
  if (Status st = CatchUp(NowMs() - kCatchUpWindowMs); !st.ok())
    spdlog::error("notify: catching up on recent decisions failed: {}", st.ToString());
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_ || std::exchange(started_, true) || !Wanted(config_)) return;
  if (bus && config_.notify.mqtt_events)
    dispatcher_.Add(std::make_shared<MqttEventCommunicator>(bus));
  outbox_->Start();
}

void Notifier::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (subscription_ != 0) parts_.events->Unsubscribe(subscription_);
  dispatcher_.Stop();
  outbox_->Stop();
}

Status Notifier::HandleEvent(const Event& event) {
  if (const auto* s = std::get_if<SightingEvent>(&event)) {
    if (s->kind == SightingEvent::Kind::kDecided && s->sighting.decision == Decision::kUnknown &&
        !s->sighting.embedding.empty())
      return OnStranger(s->sighting);
    return Status::Ok();
  }
  const auto& v = std::get<VisitEvent>(event);
  if (v.kind == VisitEvent::Kind::kStarted) return OnVisitStarted(v.visit, v.sighting_id);
  return Status::Ok();
}

Status Notifier::CatchUp(int64_t since_ms) {
  SightingQuery strangers;
  strangers.since_ms = since_ms;
  strangers.limit = 0;
  strangers.unknown_only = true;
  ASSIGN_OR_RETURN(std::vector<SightingRecord> unknown, parts_.sightings->List(strangers));
  std::reverse(unknown.begin(), unknown.end());  // oldest first, as they were decided
  for (const SightingRecord& s : unknown)
    RETURN_IF_ERROR(HandleEvent(SightingEvent{SightingEvent::Kind::kDecided, s}));

  VisitQuery recent;
  recent.since_ms = since_ms;
  recent.limit = 0;
  ASSIGN_OR_RETURN(std::vector<VisitRecord> visits, parts_.sightings->ListVisits(recent));
  std::reverse(visits.begin(), visits.end());
  size_t replayed = 0;
  for (const VisitRecord& v : visits) {
    if (v.started_ms < since_ms) continue;
    SightingQuery members;
    members.visit_id = v.id;
    members.limit = 0;
    ASSIGN_OR_RETURN(const std::vector<SightingRecord> sightings,
                     parts_.sightings->List(members));
    if (sightings.empty()) continue;
    RETURN_IF_ERROR(OnVisitStarted(v, sightings.back().id));  // the first one started it
    ++replayed;
  }
  if (!unknown.empty() || replayed > 0)
    spdlog::info("notify: caught up on {} unknown sightings and {} visits since {}",
                 unknown.size(), replayed, since_ms);
  return Status::Ok();
}

Status Notifier::Enqueue(const std::string& kind, const std::string& channel,
                         const std::string& key, json payload) {
  Notification n{kind, channel, key, std::move(payload)};
  ASSIGN_OR_RETURN(const Outbox::Enqueued queued, outbox_->Enqueue(n));
  if (queued.inserted) spdlog::info("notify: queued kind={} key={}", kind, key);
  return Status::Ok();
}

Result<bool> Notifier::EnqueueDigest(const std::string& date, const std::string& text) {
  if (!parts_.slack) return Status::FailedPrecondition("Slack is not configured");
  const NotifyConfig& n = config_.notify;
  const std::string channel = n.digest_channel.empty() ? n.slack_channel : n.digest_channel;
  Notification note{"digest", channel, "slack:digest:" + date,
                    {{"via", "slack"}, {"render", "digest"}, {"text", text}}};
  ASSIGN_OR_RETURN(const Outbox::Enqueued queued, outbox_->Enqueue(note));
  if (queued.inserted) spdlog::info("notify: queued the daily digest for {}", date);
  return queued.inserted;
}

Status Notifier::EnqueueSlackUpdate(const std::string& original_key, const std::string& key,
                                    const std::string& kind, json payload) {
  Result<OutboxEntry> original = outbox_->Find(original_key);
  if (IsNotFound(original.status())) return Status::Ok();  // never asked: nothing to update
  RETURN_IF_ERROR(original.status());
  payload["via"] = "slack";
  payload["update_of"] = original_key;
  return Enqueue(kind, original->channel, key, std::move(payload));
}

Status Notifier::OnStranger(const SightingRecord& s) {
  ASSIGN_OR_RETURN(const ClusterAssignment a, parts_.clusters->Assign(s));
  const StrangerCluster& c = a.cluster;
  if (c.state == ClusterState::kIgnored && !s.image_key.empty()) {
    // An ignored stranger came back: keep the record, not the picture.
    RETURN_IF_ERROR(parts_.objects->Delete(s.image_key));
    return parts_.sightings->Relabel(s.id, Decision::kUnknown, std::nullopt, "");
  }
  if (!a.merged.empty()) {
    spdlog::info("notify: stranger cluster={} absorbed {} other cluster(s) as evidence grew",
                 c.id, a.merged.size());
    return UpdateMerged(c, a.merged, kConciergeActor);
  }
  if (c.state != ClusterState::kOpen || !parts_.slack || !config_.notify.ask_unknown)
    return Status::Ok();
  ASSIGN_OR_RETURN(const bool asked_before, Ask(c, s));
  if (!asked_before || !a.added) return Status::Ok();  // a replay the question already counts
  const std::string ask_key = AskKey(c.id);
  return EnqueueSlackUpdate(ask_key, ask_key + ":seen:" + std::to_string(c.sightings),
                            "unknown_face_update",
                            {{"render", "cluster"}, {"cluster_id", c.id}, {"at_ms", s.captured_ms}});
}

Result<bool> Notifier::Ask(const StrangerCluster& c, const SightingRecord& s) {
  const std::string ask_key = AskKey(c.id);
  Result<OutboxEntry> asked = outbox_->Find(ask_key);
  if (asked.ok()) return true;
  if (!IsNotFound(asked.status())) return asked.status();
  const std::string rejection = QualityRejection(s.quality, config_.quality);
  if (!rejection.empty()) {
    spdlog::info("notify: stranger cluster={} sighting={} not asked: {}", c.id, s.id, rejection);
    return false;
  }
  const json ask = {{"render", "cluster"},
                    {"cluster_id", c.id},
                    {"at_ms", s.captured_ms},
                    {"via", "slack"}};
  RETURN_IF_ERROR(Enqueue("unknown_face", config_.notify.slack_channel, ask_key, ask));
  RETURN_IF_ERROR(AlertSubscribers(c, s));
  return false;
}

Status Notifier::UpdateMerged(const StrangerCluster& into, const std::vector<int64_t>& from,
                              const std::string& actor) {
  std::string merged;
  for (int64_t id : from) {
    const std::string key = AskKey(id);
    RETURN_IF_ERROR(EnqueueSlackUpdate(
        key, key + ":merged", "unknown_face_update",
        {{"render", "merged"}, {"cluster_id", id}, {"into", into.id}, {"actor", actor}}));
    merged.append(":").append(std::to_string(id));
  }
  if (into.state != ClusterState::kOpen || !parts_.slack || !config_.notify.ask_unknown)
    return Status::Ok();
  // The survivor may never have been asked (its faces failed the gate) while
  // one it absorbed was: ask now, so the stranger keeps a question.
  ASSIGN_OR_RETURN(const SightingRecord best, parts_.sightings->Get(into.best_sighting_id));
  ASSIGN_OR_RETURN(const bool asked_before, Ask(into, best));
  if (!asked_before) return Status::Ok();
  const std::string key = AskKey(into.id);
  return EnqueueSlackUpdate(key, key + ":merged" + merged, "unknown_face_update",
                            {{"render", "cluster"}, {"cluster_id", into.id}});
}

Status Notifier::OnVisitStarted(const VisitRecord& v, const std::string& sighting_id) {
  ASSIGN_OR_RETURN(const SightingRecord s, parts_.sightings->Get(sighting_id));
  if (v.person_id) {
    RETURN_IF_ERROR(EnqueueVisitEvents("arrival", v, s));
    RETURN_IF_ERROR(MaybeGreet(v, s));
    return TellHost(v, s);
  }
  RETURN_IF_ERROR(EnqueueVisitEvents("unknown", v, s));
  const bool after_hours = windows_.office && !windows_.office->Contains(v.started_ms);
  if (!after_hours || !parts_.slack || config_.notify.alert_channel.empty()) return Status::Ok();
  return Enqueue("after_hours_alert", config_.notify.alert_channel,
                 "slack:alert:" + std::to_string(v.id),
                 {{"via", "slack"},
                  {"render", "alert"},
                  {"sighting_id", s.id},
                  {"visit_id", v.id},
                  {"at_ms", s.captured_ms}});
}

Status Notifier::MaybeGreet(const VisitRecord& v, const SightingRecord& s) {
  const NotifyConfig& n = config_.notify;
  if (!parts_.slack || !n.greet) return Status::Ok();
  const std::string& person_id = *v.person_id;
  auto skip = [&](const char* why) {
    spdlog::info("notify: no greeting visit={} person={}: {}", v.id, person_id, why);
    return Status::Ok();
  };
  if (windows_.quiet && windows_.quiet->Contains(v.started_ms)) return skip("quiet hours");
  // A replayed visit (CatchUp) whose greeting is queued already: nothing to decide again.
  Result<OutboxEntry> own = outbox_->Find(GreetKey(v.id));
  if (own.ok()) return Status::Ok();
  if (!IsNotFound(own.status())) return own.status();
  Result<Person> person = parts_.faces->GetPerson(person_id);
  if (IsNotFound(person.status())) return skip("person is gone");
  RETURN_IF_ERROR(person.status());
  if (!person->external_id.empty() && person->external_id == n.slack_channel)
    return skip("the channel is their own DM");
  const PersonPreferences::Greeting mode = person->preferences.greeting;
  if (mode == PersonPreferences::Greeting::kMuted) return skip("their greetings are muted");
  if (n.greet_first_of_day_only || mode == PersonPreferences::Greeting::kOncePerDay) {
    ASSIGN_OR_RETURN(auto earlier,
                     parts_.sightings->PersonVisits(v.site, person_id,
                                                    LocalDayStartMs(v.started_ms),
                                                    v.started_ms - 1));
    if (!earlier.empty()) return skip("not the first arrival today");
  }
  if (n.greet_cooldown_min > 0) {
    ASSIGN_OR_RETURN(const std::optional<int64_t> last, LastGreetingMs(person_id));
    if (last && v.started_ms - *last < int64_t{n.greet_cooldown_min} * 60000)
      return skip("cooldown");
  }
  if (n.group_greeting_s > 0) {
    ASSIGN_OR_RETURN(const std::optional<int64_t> group, GroupToJoin(v));
    if (group) {
      spdlog::info("notify: visit={} person={} joins the greeting of visit={}", v.id, person_id,
                   *group);
      return EnqueueSlackUpdate(GreetKey(*group), JoinKey(*group, v.id), "greeting",
                                {{"render", "greeting"},
                                 {"visit_id", *group},
                                 {"person_id", person_id},
                                 {"member_sighting_id", s.id},
                                 {"at_ms", v.started_ms}});
    }
  }
  return Enqueue("greeting", n.slack_channel, GreetKey(v.id),
                 {{"via", "slack"},
                  {"render", "greeting"},
                  {"sighting_id", s.id},
                  {"person_id", person_id},
                  {"visit_id", v.id},
                  {"at_ms", v.started_ms}});
}

Status Notifier::TellHost(const VisitRecord& v, const SightingRecord& s) {
  if (!parts_.slack) return Status::Ok();
  Result<Person> guest = parts_.faces->GetPerson(*v.person_id);
  if (IsNotFound(guest.status())) return Status::Ok();
  RETURN_IF_ERROR(guest.status());
  const std::string& host_id = guest->preferences.host;
  if (host_id.empty()) return Status::Ok();
  Result<Person> host = parts_.faces->GetPerson(host_id);
  if (IsNotFound(host.status()) || (host.ok() && host->external_id.empty())) {
    spdlog::info("notify: visit={} person={}: host {} has no chat account; not told", v.id,
                 guest->id, host_id);
    return Status::Ok();
  }
  RETURN_IF_ERROR(host.status());
  // A direct message: Slack posts to the app's conversation with that user.
  return Enqueue("host_notice", host->external_id, "slack:host:" + std::to_string(v.id),
                 {{"via", "slack"},
                  {"render", "host"},
                  {"sighting_id", s.id},
                  {"person_id", guest->id},
                  {"visit_id", v.id},
                  {"at_ms", v.started_ms}});
}

Status Notifier::AlertSubscribers(const StrangerCluster& c, const SightingRecord& s) {
  ASSIGN_OR_RETURN(const std::vector<Person> people, parts_.faces->ListPersons());
  for (const Person& p : people) {
    if (p.preferences.alerts != PersonPreferences::Alerts::kStrangers || p.external_id.empty())
      continue;
    RETURN_IF_ERROR(Enqueue("stranger_alert", p.external_id,
                            "slack:stranger-alert:" + std::to_string(c.id) + ":" + p.id,
                            {{"via", "slack"},
                             {"render", "stranger_alert"},
                             {"cluster_id", c.id},
                             {"sighting_id", s.id},
                             {"subscriber_id", p.id},
                             {"at_ms", s.captured_ms}}));
  }
  return Status::Ok();
}

Result<std::vector<VisitRecord>> Notifier::VisitsStarting(const std::string& site,
                                                          int64_t from_ms, int64_t to_ms) {
  VisitQuery q;
  q.since_ms = from_ms;
  q.until_ms = to_ms + 1;
  q.limit = 0;
  ASSIGN_OR_RETURN(std::vector<VisitRecord> visits, parts_.sightings->ListVisits(q));
  std::erase_if(visits, [&](const VisitRecord& v) {
    return v.site != site || v.started_ms < from_ms || v.started_ms > to_ms;
  });
  std::sort(visits.begin(), visits.end(), [](const VisitRecord& a, const VisitRecord& b) {
    return std::tie(a.started_ms, a.id) < std::tie(b.started_ms, b.id);
  });
  return visits;
}

Result<std::optional<int64_t>> Notifier::GroupToJoin(const VisitRecord& v) {
  const int64_t window_ms = int64_t{config_.notify.group_greeting_s} * 1000;
  ASSIGN_OR_RETURN(const auto earlier,
                   VisitsStarting(v.site, v.started_ms - window_ms, v.started_ms));
  for (const VisitRecord& other : earlier) {
    if (other.id == v.id) continue;
    Result<OutboxEntry> greeted = outbox_->Find(GreetKey(other.id));
    if (greeted.ok()) return std::optional<int64_t>(other.id);
    if (!IsNotFound(greeted.status())) return greeted.status();
  }
  return std::optional<int64_t>();
}

Result<std::optional<int64_t>> Notifier::GreetedIn(int64_t visit_id) {
  Result<OutboxEntry> own = outbox_->Find(GreetKey(visit_id));
  if (own.ok()) return std::optional<int64_t>(visit_id);
  if (!IsNotFound(own.status())) return own.status();
  Result<VisitRecord> visit = parts_.sightings->GetVisit(visit_id);
  if (IsNotFound(visit.status())) return std::optional<int64_t>();
  RETURN_IF_ERROR(visit.status());
  const VisitRecord& v = *visit;
  const int64_t window_ms = int64_t{config_.notify.group_greeting_s} * 1000;
  ASSIGN_OR_RETURN(const auto earlier,
                   VisitsStarting(v.site, v.started_ms - window_ms, v.started_ms));
  for (const VisitRecord& other : earlier) {
    Result<OutboxEntry> joined = outbox_->Find(JoinKey(other.id, v.id));
    if (joined.ok()) return std::optional<int64_t>(other.id);
    if (!IsNotFound(joined.status())) return joined.status();
  }
  return std::optional<int64_t>();
}

Result<std::vector<Notifier::GreetingMember>> Notifier::GreetingGroup(int64_t visit_id) {
  ASSIGN_OR_RETURN(const OutboxEntry greeting, outbox_->Find(GreetKey(visit_id)));
  const json head = json::parse(greeting.payload, nullptr, false);
  std::vector<GreetingMember> members{
      {head.value("person_id", ""), head.value("sighting_id", "")}};
  if (config_.notify.group_greeting_s <= 0) return members;
  ASSIGN_OR_RETURN(const VisitRecord visit, parts_.sightings->GetVisit(visit_id));
  const int64_t window_ms = int64_t{config_.notify.group_greeting_s} * 1000;
  ASSIGN_OR_RETURN(const auto later,
                   VisitsStarting(visit.site, visit.started_ms, visit.started_ms + window_ms));
  for (const VisitRecord& other : later) {
    if (other.id == visit_id) continue;
    Result<OutboxEntry> joined = outbox_->Find(JoinKey(visit_id, other.id));
    if (IsNotFound(joined.status())) continue;
    RETURN_IF_ERROR(joined.status());
    const json p = json::parse(joined->payload, nullptr, false);
    members.push_back({p.value("person_id", ""), p.value("member_sighting_id", "")});
  }
  return members;
}

Result<SlackContent> Notifier::RenderGreeting(int64_t visit_id, std::string* image_key) {
  ASSIGN_OR_RETURN(const std::vector<GreetingMember> members, GreetingGroup(visit_id));
  std::vector<GreetedFace> named;
  std::vector<std::string> disowned;
  std::optional<SeenAt> first;
  for (const GreetingMember& m : members) {
    Result<SightingRecord> s = parts_.sightings->Get(m.sighting_id);
    if (IsNotFound(s.status())) continue;  // forgotten, or gone with retention
    RETURN_IF_ERROR(s.status());
    if (!first) {
      first = SeenFrom(*s);
      *image_key = s->image_key;
    }
    Result<Person> p = parts_.faces->GetPerson(m.person_id);
    const std::string mention =
        p.ok() ? MentionOrName(p->external_id, p->display_name) : m.person_id;
    if (s->person_id == m.person_id)
      named.push_back({mention, p.ok() ? p->display_name : m.person_id, s->id});
    else
      disowned.push_back(mention);  // a "Not me" took them out
  }
  if (named.empty()) return Status::NotFound("nobody of the greeting is left");
  return GroupGreetingMessage(named, disowned, *first);
}

Result<std::optional<int64_t>> Notifier::LastGreetingMs(const std::string& person_id) {
  return parts_.outbox->MaxPayloadInt("greeting", "person_id", person_id, "at_ms");
}

Status Notifier::EnqueueVisitEvents(const std::string& kind, const VisitRecord& v,
                                    const SightingRecord& s) {
  const bool mqtt = config_.notify.mqtt_events;
  if (config_.notify.webhook_url.empty() && !mqtt) return Status::Ok();
  json person = nullptr;
  if (v.person_id) {
    Result<Person> p = parts_.faces->GetPerson(*v.person_id);
    person = {{"id", *v.person_id}, {"name", p.ok() ? p->display_name : *v.person_id}};
  }
  const json event = {{"kind", kind},
                      {"site", v.site},
                      {"camera", s.camera},
                      {"visit_id", v.id},
                      {"sighting_id", s.id},
                      {"person", person},
                      {"at", FormatIsoUtc(v.started_ms)},
                      {"at_ms", v.started_ms},
                      {"live_score", s.live_score},
                      {"possible_spoof", SeenFrom(s).possible_spoof}};
  const std::string visit = std::to_string(v.id);
  json about = {{"event", event}};
  if (v.person_id) about["person_id"] = *v.person_id;
  if (!config_.notify.webhook_url.empty()) {
    json p = about;
    p["via"] = "webhook";
    RETURN_IF_ERROR(Enqueue(kind, "", "webhook:" + kind + ":" + visit, std::move(p)));
  }
  if (!mqtt) return Status::Ok();
  const std::string& prefix = config_.bus.topic_prefix;
  json p = about;
  p["via"] = "mqtt";
  p["topic"] = EventTopic(prefix, v.site, kind);
  RETURN_IF_ERROR(Enqueue(kind, "", "mqtt:" + kind + ":" + visit, std::move(p)));
  if (!v.person_id) return Status::Ok();
  json presence = about;
  presence["via"] = "mqtt";
  presence["topic"] = PresenceTopic(prefix, v.site, *v.person_id);
  presence["event"] = {{"state", "present"},
                       {"person", person},
                       {"site", v.site},
                       {"camera", s.camera},
                       {"since", FormatIsoUtc(v.started_ms)},
                       {"since_ms", v.started_ms}};
  return Enqueue("presence", "", "mqtt:presence:" + visit, std::move(presence));
}

void Notifier::ClusterResolved(const StrangerCluster& c, const std::string& actor) {
  const std::string ask_key = AskKey(c.id);
  json payload = {{"render", "cluster"}, {"cluster_id", c.id}, {"actor", actor}};
  if (c.person_id) payload["person_id"] = *c.person_id;
  Status st = EnqueueSlackUpdate(ask_key, ask_key + ":" + ToString(c.state), "unknown_face_update",
                                 std::move(payload));
  if (!st.ok()) spdlog::error("notify: cluster={} update: {}", c.id, st.ToString());
}

void Notifier::SightingDisowned(const SightingRecord& s, const std::string& person_id,
                                const std::string& actor) {
  if (!s.visit_id) return;
  const Status st = [&]() -> Status {
    ASSIGN_OR_RETURN(const std::optional<int64_t> greeted, GreetedIn(*s.visit_id));
    if (!greeted) return Status::Ok();  // never greeted: nothing to update
    ASSIGN_OR_RETURN(const std::vector<GreetingMember> group, GreetingGroup(*greeted));
    json payload = {{"sighting_id", s.id},
                    {"person_id", person_id},
                    {"visit_id", *greeted},
                    {"actor", actor}};
    if (group.size() > 1) {
      payload["render"] = "greeting";  // the others stay greeted; the message says who is not
    } else {
      payload["render"] = "disowned";
      payload["who"] = PersonMention(person_id);
    }
    const std::string key = GreetKey(*greeted);
    return EnqueueSlackUpdate(key, key + ":not_me:" + s.id, "greeting_update", std::move(payload));
  }();
  if (!st.ok()) spdlog::error("notify: sighting={} not-me update: {}", s.id, st.ToString());
}

void Notifier::ClustersMerged(const StrangerCluster& into, const std::vector<int64_t>& from,
                              const std::string& actor) {
  if (Status st = UpdateMerged(into, from, actor); !st.ok())
    spdlog::error("notify: cluster={} merge update: {}", into.id, st.ToString());
}

void Notifier::ClusterSplit(const StrangerCluster& from, const StrangerCluster& created,
                            const std::string& actor) {
  const Status st = [&]() -> Status {
    const std::string key = AskKey(from.id);
    RETURN_IF_ERROR(EnqueueSlackUpdate(key, key + ":split:" + std::to_string(created.id),
                                       "unknown_face_update",
                                       {{"render", "cluster"}, {"cluster_id", from.id}}));
    if (!parts_.slack || !config_.notify.ask_unknown) return Status::Ok();
    ASSIGN_OR_RETURN(const SightingRecord best, parts_.sightings->Get(created.best_sighting_id));
    return Ask(created, best).status();
  }();
  if (!st.ok())
    spdlog::error("notify: cluster={} split by {} update: {}", from.id, actor, st.ToString());
}

void Notifier::PersonForgotten(const std::string& person_id,
                               const std::vector<int64_t>& clusters) {
  int64_t removed = 0;
  auto forget = [&](const std::string& field, const std::string& value) {
    Result<int64_t> n = outbox_->DeleteAbout(field, value);
    if (n.ok()) {
      removed += *n;
    } else {
      spdlog::error("notify: forgetting {}={}: {}", field, value, n.status().ToString());
    }
  };
  forget("person_id", person_id);
  forget("subscriber_id", person_id);
  for (int64_t c : clusters) forget("cluster_id", std::to_string(c));
  spdlog::info("notify: forgot a person; {} outbox rows removed", removed);
}

SeenAt Notifier::SeenFrom(const SightingRecord& s) const {
  return {s.camera, s.site, s.captured_ms,
          s.live_score >= 0 && s.live_score < config_.notify.spoof_live_threshold};
}

std::string Notifier::PersonMention(const std::string& person_id) const {
  Result<Person> p = parts_.faces->GetPerson(person_id);
  return p.ok() ? MentionOrName(p->external_id, p->display_name) : person_id;
}

Result<json> Notifier::Render(const json& p) {
  const std::string what = p.value("render", "");
  SlackContent content;
  std::string image_key;
  if (what == "greeting") {
    Result<SlackContent> greeting = RenderGreeting(p.value("visit_id", int64_t{0}), &image_key);
    if (!greeting.ok()) return Gone(greeting.status());
    content = std::move(*greeting);
  } else if (what == "disowned" || what == "alert") {
    Result<SightingRecord> s = parts_.sightings->Get(p.value("sighting_id", ""));
    if (!s.ok()) return Gone(s.status());
    if (what == "disowned") {
      content = DisownedMessage(p.value("who", ""), SeenFrom(*s), p.value("actor", ""));
    } else {
      content = AfterHoursAlert(config_.notify.alert_mention, SeenFrom(*s));
    }
    if (what != "disowned") image_key = s->image_key;
  } else if (what == "cluster") {
    Result<StrangerCluster> c = parts_.clusters->Get(p.value("cluster_id", int64_t{0}));
    if (!c.ok()) return Gone(c.status());
    Result<SightingRecord> best = parts_.sightings->Get(c->best_sighting_id);
    if (!best.ok()) return Gone(best.status());
    SeenAt seen = SeenFrom(*best);
    seen.at_ms = c->last_ms;
    if (c->state == ClusterState::kOpen) {
      ASSIGN_OR_RETURN(const int today, parts_.clusters->CountSightings(
                                            c->id, LocalDayStartMs(c->last_ms), c->last_ms));
      content = StrangerQuestion(c->id, seen, today, c->sightings);
      image_key = best->image_key;
    } else if (c->state == ClusterState::kTagged) {
      const std::string who = PersonMention(c->person_id.value_or(""));
      content = c->resolved_by == kConciergeActor ? StrangerRecognised(who, seen)
                                                  : StrangerTagged(who, c->resolved_by, seen);
      image_key = best->image_key;
    } else {
      content = StrangerIgnored(c->resolved_by, c->sightings);
    }
  } else if (what == "merged") {
    content = StrangerMerged(p.value("actor", ""));
  } else if (what == "host") {
    Result<SightingRecord> s = parts_.sightings->Get(p.value("sighting_id", ""));
    if (!s.ok()) return Gone(s.status());
    Result<Person> guest = parts_.faces->GetPerson(p.value("person_id", ""));
    if (!guest.ok()) return Gone(guest.status());
    content = HostArrivalNotice(guest->display_name, SeenFrom(*s));
    image_key = s->image_key;
  } else if (what == "stranger_alert") {
    // Only while the question is open: once answered, the alert is news no more.
    Result<StrangerCluster> c = parts_.clusters->Get(p.value("cluster_id", int64_t{0}));
    if (!c.ok()) return Gone(c.status());
    if (c->state != ClusterState::kOpen)
      return Status::FailedPrecondition("the stranger was already " +
                                        std::string(ToString(c->state)));
    Result<SightingRecord> s = parts_.sightings->Get(p.value("sighting_id", ""));
    if (!s.ok()) return Gone(s.status());
    content = StrangerAlertNotice(SeenFrom(*s), config_.notify.slack_channel);
    image_key = s->image_key;
  } else if (what == "digest") {
    const std::string text = p.value("text", "");
    content.text = text;
    content.blocks = json::array(
        {{{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", text}}}}});
  } else {
    return Status::InvalidArgument("slack notification with unknown render '" + what + "'");
  }
  json out = {{"text", content.text}, {"blocks", content.blocks}};
  if (!image_key.empty()) out["image_key"] = image_key;
  return out;
}

Result<std::string> Notifier::DeliverSlack(const OutboxItem& item) {
  Notification n = item.notification;
  const json& p = item.notification.payload;
  ASSIGN_OR_RETURN(n.payload, Render(p));
  if (const std::string original = p.value("update_of", ""); !original.empty()) {
    ASSIGN_OR_RETURN(const OutboxEntry posted, outbox_->Find(original));
    if (posted.state != OutboxState::kSent)
      return Status::FailedPrecondition("the message to update (" + original + ") was not sent");
    ASSIGN_OR_RETURN(const SlackReceipt where, ParseSlackReceipt(posted.receipt));
    n.channel = where.channel;
    n.payload["update_ts"] = where.ts;
    n.payload.erase("image_key");
    if (!where.file_id.empty()) n.payload["image_file"] = where.file_id;
  } else if (item.maybe_delivered) {
    // A crash may have come between Slack accepting the post and our commit.
    ASSIGN_OR_RETURN(const std::optional<json> found,
                     parts_.slack->FindMessage(n.channel, n.idempotency_key));
    if (found) {
      spdlog::info("notify: key={} was posted before a restart; not posting again",
                   n.idempotency_key);
      return SlackReceipt{n.channel, found->value("ts", ""), SlackFileOf(*found)}.ToString();
    }
  }
  return dispatcher_.PublishTo("slack", n);
}

Result<std::string> Notifier::Deliver(const OutboxItem& item) {
  const json& p = item.notification.payload;
  const std::string via = p.value("via", "");
  Result<std::string> result = via == "slack" ? DeliverSlack(item)
                                              : dispatcher_.PublishTo(via, item.notification);
  const std::string& kind = item.notification.kind;
  Count(via, kind, result.ok() ? "ok" : IsTransient(result.status()) ? "retry" : "failed");
  if (result.ok() && via == "slack" && !p.contains("update_of") && p.contains("at_ms"))
    capture_to_notify_.Observe(static_cast<double>(NowMs() - p.value("at_ms", int64_t{0})) /
                               1000.0);
  if (Result<std::map<OutboxState, int64_t>> counts = outbox_->Counts(); counts.ok()) {
    const auto& c = *counts;
    const auto get = [&c](OutboxState s) { return c.count(s) ? c.at(s) : 0; };
    // The row being delivered is still 'sending'; it leaves the queue now.
    outbox_depth_.Set(static_cast<double>(get(OutboxState::kPending) +
                                          get(OutboxState::kSending) - 1));
  }
  return result;
}

void Notifier::Count(const std::string& via, const std::string& kind, const std::string& result) {
  const std::string key = via + "|" + kind + "|" + result;
  auto it = notifications_.find(key);
  if (it == notifications_.end()) {
    Counter* c = &Metrics().counter("concierge_notifications_total",
                                    "Notification deliveries by channel, kind and result",
                                    {{"channel", via}, {"kind", kind}, {"result", result}});
    it = notifications_.emplace(key, c).first;
  }
  it->second->Inc();
}

}  // namespace concierge

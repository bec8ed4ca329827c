// What the HTTP route modules work on. The server that owns these parts fills
// one ApiContext; each route module registers its handlers with it:
//   auth_routes  (login, logout, me, users, tokens)          RegisterAuthRoutes
//   admin_routes (settings, audit, restart)                 RegisterAdminRoutes
//   data_routes  (sightings, visits, events, unknowns, people, recognize)
//                RegisterTimelineRoutes, RegisterUnknownRoutes, RegisterPeopleRoutes,
//                RegisterRecognitionRoutes
//   presence_routes (presence, digest, visits.csv, person export) RegisterPresenceRoutes
//   ops_routes   (healthz, readyz, metrics)                 RegisterOpsRoutes
//   camera_routes (cameras: list, preview, add, change, test) RegisterCameraRoutes
//   /slack/interactive                                      SlackInteractions
//   POST / (Rekognition-compatible AWS JSON)                RegisterRekognitionRoutes
// A null pointer means that part is not running here (e.g. no cameras in
// `serve`); routes that need it answer 503 with a JSON error.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"
#include "core/status.h"
#include "store/face_repository.h"

namespace concierge {

class AccountStore;
class Authenticator;
class AuditLog;
class CameraRegistry;
class EventStream;
class FaceCollection;
class FaceEngine;
class Matcher;
class ObjectStore;
class RekognitionStore;
class SettingsStore;
class SightingStore;
class SlackInteractions;
class StrangerClusters;
class Trainer;

// One dependency GET /readyz checks beyond the parts below (e.g. the bus):
// `check` returns OK when it is usable, else a short reason safe to show.
struct ReadinessCheck {
  std::string name;
  std::function<Status()> check;
};

struct ApiContext {
  const Config* config = nullptr;
  AccountStore* accounts = nullptr;  // users, sessions, tokens (unless auth is given)
  SightingStore* sightings = nullptr;
  ObjectStore* objects = nullptr;
  FaceCollection* faces = nullptr;
  FaceEngine* engine = nullptr;  // for recognize and enrol; its own instance, not a worker's
  Matcher* matcher = nullptr;    // decides who a face is (the server's calibrated threshold)
  EventStream* events = nullptr;
  Authenticator* auth = nullptr;
  AuditLog* audit = nullptr;
  StrangerClusters* clusters = nullptr;
  Trainer* trainer = nullptr;
  SlackInteractions* slack = nullptr;
  CameraRegistry* cameras = nullptr;
  // The Rekognition API's collections, FaceIds and kept answers, and how it
  // opens the collections it creates (on the configured database backend).
  RekognitionStore* rekognition = nullptr;
  FaceRepositoryOpener open_face_repository;
  std::vector<ReadinessCheck> readiness;
  // The settings saved through the API (the database's, shared on
  // PostgreSQL), and the settings document this server started with (the
  // config file's with the saved ones over it): a stored change that differs
  // from it waits for a restart.
  SettingsStore* settings = nullptr;
  nlohmann::json settings_in_force = nlohmann::json::object();
  // Starts or restarts (`camera` given) or stops (nullopt) the camera `name`
  // of this process's camera reader at once. A non-OK status says why it did
  // not apply (e.g. no reader runs here); its message is shown. Empty: never applies.
  std::function<Status(const std::string& name, const std::optional<CameraConfig>& camera)>
      apply_camera;
  // Asks the process to stop gracefully and start again, and returns at once
  // (the HTTP server is among what stops). Empty: POST /api/v1/restart answers 503.
  std::function<void()> request_restart;
};

}  // namespace concierge

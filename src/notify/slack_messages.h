// Block Kit content of every Slack message Concierge sends. Pure functions:
// the notifier renders a message from the current state each time it posts
// or updates it. The picture is a placeholder image block (block_id
// kCropBlockId, no source) that SlackCommunicator fills with the uploaded file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace concierge {

inline constexpr const char* kCropBlockId = "crop";

struct SlackContent {
  std::string text;  // fallback text for notifications and screen readers
  nlohmann::json blocks = nlohmann::json::array();
};

// Where and when something was seen, as people read it.
struct SeenAt {
  std::string camera;
  std::string site;
  int64_t at_ms = 0;
  bool possible_spoof = false;  // the live score says it may be a photo or a screen
};

// "HH:MM" in the server's local time.
std::string LocalClock(int64_t ms);
// "<@U123>" for a Slack user id, else the name as plain text.
std::string MentionOrName(const std::string& external_id, const std::string& name);
// Who did it, as the team reads it: "<@U123>" for an actor "slack:U123",
// the name of a web user ("user:<name>"), "an API client" for a token
// ("token:<id>", whose id means nothing in chat), "the command line" for
// "cli"; any other actor as it is.
std::string ActorMention(const std::string& actor);

// "Welcome in, <who>! (door, 08:59)" with the crop and a "Not me" button
// (block_id "sighting:<id>", value the sighting id).
SlackContent GreetingMessage(const std::string& who, const SeenAt& seen,
                             const std::string& sighting_id);
// One face of a group greeting.
struct GreetedFace {
  std::string mention;  // <@U…> or the name
  std::string name;     // for the button
  std::string sighting_id;
};
// People who arrived together: "Welcome in, A, B and C! (door, 08:59)" with
// the first one's crop and a "Not <name>" button per face (block_id
// "sighting:<id>"); `disowned` are the people a "Not me" took out of it. With
// one face and nobody disowned, exactly GreetingMessage.
SlackContent GroupGreetingMessage(const std::vector<GreetedFace>& named,
                                  const std::vector<std::string>& disowned, const SeenAt& seen);
// The greeting after "Not me": no buttons, says who disowned it.
SlackContent DisownedMessage(const std::string& who, const SeenAt& seen,
                             const std::string& actor);
// "Who is this?" for a stranger cluster: crop, seen counts, a users_select,
// a "Someone else..." name input (dispatch on Enter) and an Ignore button with
// a confirm dialog. Block ids carry "cluster:<id>".
SlackContent StrangerQuestion(int64_t cluster_id, const SeenAt& last_seen, int seen_today,
                              int seen_total);
// The question once answered: "Trained as <who> by <actor>" (with the crop).
SlackContent StrangerTagged(const std::string& who, const std::string& actor,
                            const SeenAt& last_seen);
// The question once Concierge itself matched the stranger to someone it
// learned later (an enrolment or another tag): "Resolved: this was <who>".
SlackContent StrangerRecognised(const std::string& who, const SeenAt& last_seen);
// The question once ignored: the pictures are gone, so no crop.
SlackContent StrangerIgnored(const std::string& actor, int seen_total);
// The question once merged into another about the same stranger, by `actor`
// or by Concierge itself (kConciergeActor "concierge"): answer that one.
SlackContent StrangerMerged(const std::string& actor);
// After-hours alert: "<mention> Unknown person at door (site) at 23:12".
SlackContent AfterHoursAlert(const std::string& mention, const SeenAt& seen);
// A host's direct message: "Bo has arrived at door (site) at 10:42."
SlackContent HostArrivalNotice(const std::string& guest, const SeenAt& seen);
// A direct message to someone who asked for stranger alerts: "Someone I
// don't know is at door (site) at 10:42; the question is in <channel>."
SlackContent StrangerAlertNotice(const SeenAt& seen, const std::string& channel);

}  // namespace concierge

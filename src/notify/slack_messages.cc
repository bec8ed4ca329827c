#include "notify/slack_messages.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <optional>
#include <string_view>

#include "notify/slack_interactions.h"

namespace concierge {

namespace {

using nlohmann::json;

json PlainText(const std::string& text) {
  return {{"type", "plain_text"}, {"text", text}, {"emoji", true}};
}

json Section(const std::string& mrkdwn) {
  return {{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", mrkdwn}}}};
}

json Context(const std::string& mrkdwn) {
  return {{"type", "context"},
          {"elements", json::array({{{"type", "mrkdwn"}, {"text", mrkdwn}}})}};
}

json CropBlock(const std::string& alt) {
  return {{"type", "image"}, {"block_id", kCropBlockId}, {"alt_text", alt}};
}

std::string Where(const SeenAt& seen) {
  return seen.camera + (seen.site.empty() ? "" : " (" + seen.site + ")");
}

// A channel as Slack links it: an id ("C0123") as <#C0123>, a name as #name.
std::string ChannelMention(const std::string& channel) {
  const bool id = channel.size() > 1 && (channel[0] == 'C' || channel[0] == 'G') &&
                  std::all_of(channel.begin(), channel.end(), [](char ch) {
                    return std::isupper(static_cast<unsigned char>(ch)) ||
                           std::isdigit(static_cast<unsigned char>(ch));
                  });
  if (id) return "<#" + channel + ">";
  return channel.rfind('#', 0) == 0 ? channel : "#" + channel;
}

const char* kSpoofWarning = ":warning: possible photo/screen";

// Appends the spoof warning line when needed; also to the fallback text.
void MarkSpoof(const SeenAt& seen, SlackContent* content) {
  if (!seen.possible_spoof) return;
  content->blocks.push_back(Context(kSpoofWarning));
  content->text += " (possible photo/screen)";
}

}  // namespace

std::string LocalClock(int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char out[8];
  std::strftime(out, sizeof out, "%H:%M", &tm);
  return out;
}

std::string MentionOrName(const std::string& external_id, const std::string& name) {
  if (!external_id.empty() && (external_id[0] == 'U' || external_id[0] == 'W'))
    return "<@" + external_id + ">";
  return name;
}

std::string ActorMention(const std::string& actor) {
  auto after = [&](std::string_view prefix) -> std::optional<std::string> {
    if (actor.size() <= prefix.size() || actor.compare(0, prefix.size(), prefix) != 0) return {};
    return actor.substr(prefix.size());
  };
  if (auto user = after("slack:")) return "<@" + *user + ">";
  if (auto name = after("user:")) return *name;
  if (after("token:")) return "an API client";
  if (actor == "cli") return "the command line";
  return actor;
}

SlackContent GreetingMessage(const std::string& who, const SeenAt& seen,
                             const std::string& sighting_id) {
  SlackContent c;
  c.text = "Welcome in, " + who + "! (" + Where(seen) + ", " + LocalClock(seen.at_ms) + ")";
  c.blocks.push_back(Section(c.text));
  c.blocks.push_back(CropBlock("The face Concierge recognised"));
  MarkSpoof(seen, &c);
  json not_me = {{"type", "button"},
                 {"action_id", kActionNotMe},
                 {"text", PlainText("Not me")},
                 {"value", sighting_id}};
  c.blocks.push_back(
      {{"type", "actions"}, {"block_id", "sighting:" + sighting_id}, {"elements", {not_me}}});
  return c;
}

SlackContent GroupGreetingMessage(const std::vector<GreetedFace>& named,
                                  const std::vector<std::string>& disowned, const SeenAt& seen) {
  if (named.size() == 1 && disowned.empty())
    return GreetingMessage(named[0].mention, seen, named[0].sighting_id);
  std::string who;
  for (size_t i = 0; i < named.size(); ++i)
    who += (i == 0 ? "" : i + 1 == named.size() ? " and " : ", ") + named[i].mention;
  SlackContent c;
  c.text = "Welcome in, " + who + "! (" + Where(seen) + ", " + LocalClock(seen.at_ms) + ")";
  c.blocks.push_back(Section(c.text));
  c.blocks.push_back(CropBlock("The first face Concierge recognised"));
  MarkSpoof(seen, &c);
  for (const std::string& gone : disowned)
    c.blocks.push_back(Context("Not " + gone + ": someone said so, and Concierge unlearned it."));
  for (const GreetedFace& face : named) {
    // Slack caps button text at 75 characters; cut on a UTF-8 character boundary.
    std::string label = "Not " + face.name;
    if (label.size() > 70) {
      size_t cut = 67;
      while (cut > 0 && (static_cast<unsigned char>(label[cut]) & 0xC0) == 0x80) --cut;
      label = label.substr(0, cut) + "...";
    }
    json not_me = {{"type", "button"},
                   {"action_id", kActionNotMe},
                   {"text", PlainText(label)},
                   {"value", face.sighting_id}};
    c.blocks.push_back({{"type", "actions"},
                        {"block_id", "sighting:" + face.sighting_id},
                        {"elements", {not_me}}});
  }
  return c;
}

SlackContent DisownedMessage(const std::string& who, const SeenAt& seen,
                             const std::string& actor) {
  SlackContent c;
  c.text = ActorMention(actor) + " says this was not " + who + " (" + Where(seen) + ", " +
           LocalClock(seen.at_ms) + "). Concierge unlearned it.";
  c.blocks.push_back(Section(c.text));
  return c;
}

SlackContent StrangerQuestion(int64_t cluster_id, const SeenAt& last_seen, int seen_today,
                              int seen_total) {
  const std::string block = "cluster:" + std::to_string(cluster_id);
  SlackContent c;
  c.text = "I don't know who this is. Can you tell me? (" + Where(last_seen) + ", " +
           LocalClock(last_seen.at_ms) + ")";
  c.blocks.push_back(Section(c.text));
  c.blocks.push_back(CropBlock("A face Concierge does not know yet"));
  c.blocks.push_back(Context("Seen " + std::to_string(seen_today) +
                             (seen_today == 1 ? " time" : " times") + " today, " +
                             std::to_string(seen_total) + " in all; last at " +
                             Where(last_seen) + ", " + LocalClock(last_seen.at_ms)));
  MarkSpoof(last_seen, &c);
  const json picker = {{"type", "users_select"},
                       {"action_id", kActionTagUser},
                       {"placeholder", PlainText("This is...")}};
  const json confirm = {{"title", PlainText("Ignore this face?")},
                        {"text", PlainText("Concierge deletes every picture of this person and "
                                           "stops asking about them.")},
                        {"confirm", PlainText("Ignore and delete")},
                        {"deny", PlainText("Cancel")},
                        {"style", "danger"}};
  const json ignore = {{"type", "button"},
                       {"action_id", kActionIgnore},
                       {"text", PlainText("Ignore")},
                       {"style", "danger"},
                       {"value", std::to_string(cluster_id)},
                       {"confirm", confirm}};
  c.blocks.push_back({{"type", "actions"}, {"block_id", block}, {"elements", {picker, ignore}}});
  c.blocks.push_back(
      {{"type", "input"},
       {"block_id", block + ":name"},
       {"dispatch_action", true},
       {"optional", true},
       {"label", PlainText("Someone else... (not in Slack)")},
       {"hint", PlainText("Type their name and press Enter.")},
       {"element",
        {{"type", "plain_text_input"},
         {"action_id", kActionTagName},
         {"placeholder", PlainText("Visitor's name")},
         {"dispatch_action_config", {{"trigger_actions_on", {"on_enter_pressed"}}}}}}});
  return c;
}

SlackContent StrangerTagged(const std::string& who, const std::string& actor,
                            const SeenAt& last_seen) {
  SlackContent c;
  c.text = "Trained as " + who + " by " + ActorMention(actor);
  c.blocks.push_back(Section(c.text));
  c.blocks.push_back(CropBlock("The face Concierge learned"));
  MarkSpoof(last_seen, &c);
  return c;
}

SlackContent StrangerRecognised(const std::string& who, const SeenAt& last_seen) {
  SlackContent c;
  c.text = "Resolved: this was " + who + " (recognised once Concierge learned their face)";
  c.blocks.push_back(Section(c.text));
  c.blocks.push_back(CropBlock("The face Concierge recognised"));
  MarkSpoof(last_seen, &c);
  return c;
}

SlackContent StrangerIgnored(const std::string& actor, int seen_total) {
  SlackContent c;
  c.text = "Ignored by " + ActorMention(actor) + "; the " + std::to_string(seen_total) +
           (seen_total == 1 ? " picture was" : " pictures were") + " deleted.";
  c.blocks.push_back(Section(c.text));
  return c;
}

SlackContent StrangerMerged(const std::string& actor) {
  SlackContent c;
  c.text = (actor == "concierge" ? std::string("Concierge now sees")
                                 : ActorMention(actor) + " says") +
           " this is the same person as in another \"who is this?\" question; please answer "
           "that one.";
  c.blocks.push_back(Section(c.text));
  return c;
}

SlackContent AfterHoursAlert(const std::string& mention, const SeenAt& seen) {
  SlackContent c;
  c.text = (mention.empty() ? "" : mention + " ") + ":rotating_light: Unknown person at " +
           Where(seen) + " at " + LocalClock(seen.at_ms) + ", outside office hours.";
  c.blocks.push_back(Section(c.text));
  c.blocks.push_back(CropBlock("The unknown face"));
  MarkSpoof(seen, &c);
  return c;
}

SlackContent HostArrivalNotice(const std::string& guest, const SeenAt& seen) {
  SlackContent c;
  c.text = ":wave: " + guest + " has arrived at " + Where(seen) + " at " + LocalClock(seen.at_ms) +
           ".";
  c.blocks.push_back(Section(c.text));
  c.blocks.push_back(CropBlock("Your guest"));
  MarkSpoof(seen, &c);
  return c;
}

SlackContent StrangerAlertNotice(const SeenAt& seen, const std::string& channel) {
  SlackContent c;
  c.text = ":eyes: Someone I don't know is at " + Where(seen) + " at " + LocalClock(seen.at_ms) +
           "; the question is in " + ChannelMention(channel) + ".";
  c.blocks.push_back(Section(c.text));
  c.blocks.push_back(CropBlock("The unknown face"));
  MarkSpoof(seen, &c);
  return c;
}

}  // namespace concierge

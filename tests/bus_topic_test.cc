// TopicMatches against the MQTT 3.1.1 / 5 filter rules.
#include <gtest/gtest.h>

#include "bus/bus.h"

namespace concierge {
namespace {

struct Case {
  const char* filter;
  const char* topic;
  bool match;
};

TEST(TopicMatchesTest, FollowsMqttRules) {
  const Case cases[] = {
      {"concierge/crops", "concierge/crops", true},
      {"concierge/crops", "concierge/crop", false},
      {"concierge/crops", "concierge/crops/door", false},
      {"concierge/+", "concierge/crops", true},
      {"concierge/+", "concierge/crops/door", false},
      {"concierge/+/door", "concierge/crops/door", true},
      {"concierge/+/door", "concierge/crops/lobby", false},
      {"+/+", "a/b", true},
      {"+", "a", true},
      {"+", "a/b", false},
      {"concierge/#", "concierge/crops/door/1", true},
      {"concierge/#", "concierge", true},  // # also matches the parent level
      {"#", "anything/at/all", true},
      {"a/+", "a/", true},                 // an empty level is a level
      {"a/b", "a/b/", false},
      {"A/b", "a/b", false},               // case-sensitive
      // Topics starting with $ are matched only by filters that name the $ level.
      {"#", "$SYS/broker/uptime", false},
      {"+/broker/uptime", "$SYS/broker/uptime", false},
      {"$SYS/#", "$SYS/broker/uptime", true},
  };
  for (const auto& c : cases)
    EXPECT_EQ(TopicMatches(c.filter, c.topic), c.match) << c.filter << " vs " << c.topic;
}

TEST(TopicMatchesTest, IgnoresSharePrefix) {
  EXPECT_TRUE(TopicMatches("$share/workers/concierge/crops/+", "concierge/crops/door"));
  EXPECT_FALSE(TopicMatches("$share/workers/concierge/crops/+", "concierge/events/door"));
  EXPECT_TRUE(TopicMatches("$share/g/#", "x/y"));
}

TEST(TopicMatchesTest, InvalidFiltersMatchNothing) {
  EXPECT_FALSE(TopicMatches("a/#/c", "a/b/c"));  // # must be last
  EXPECT_FALSE(TopicMatches("a+", "a+"));        // + must fill a level
  EXPECT_FALSE(TopicMatches("a/b#", "a/b#"));
  EXPECT_FALSE(TopicMatches("", ""));
  EXPECT_FALSE(TopicMatches("$share/g", "g"));         // no filter after the group
  EXPECT_FALSE(TopicMatches("$share//a", "a"));        // empty group
  EXPECT_FALSE(TopicMatches("$share/g+/a", "a"));      // wildcard in the group
}

}  // namespace
}  // namespace concierge

// libFuzzer target: POST /slack/interactive bodies, correctly signed so the
// payload parser is reached (SlackInteractions::Handle without a trainer).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "notify/slack_interactions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace concierge;
  constexpr int64_t kNow = 1'700'000'000;
  constexpr const char* kSecret = "fuzz-signing-secret";
  const std::string body(reinterpret_cast<const char*>(data), size);
  SlackInteractions slack(kSecret, nullptr, [] { return kNow; });
  const InteractionReply reply =
      slack.Handle(std::to_string(kNow), SignSlackRequest(kSecret, kNow, body), body);
  if (reply.status != 200 && reply.status != 400) std::abort();
  return 0;
}

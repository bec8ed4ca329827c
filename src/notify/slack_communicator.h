// The Slack Communicator: turns a Notification into chat.postMessage (or
// chat.update when the payload names the message to replace).
#pragma once

#include <memory>
#include <string>

#include "notify/communicator.h"
#include "notify/slack_client.h"

namespace concierge {

// Payload it understands: {"text": fallback text (required), "blocks": [...],
// "update_ts": "<ts>" to edit that message instead of posting}. The
// notification's channel, else default_channel, is where it goes.
class SlackCommunicator : public Communicator {
 public:
  // Needs a client; default_channel may be empty when every notification names one.
  SlackCommunicator(std::shared_ptr<SlackClient> client, std::string default_channel);

  std::string name() const override { return "slack"; }
  // Receipt: "<channel id>:<ts>" of the message posted or updated. The
  // idempotency key travels as Slack message metadata, so a duplicate after a
  // crash can be recognised in the channel history.
  Result<std::string> Publish(const Notification& notification) override;
  void Stop() override { client_->Cancel(); }

 private:
  std::shared_ptr<SlackClient> client_;
  std::string default_channel_;
};

}  // namespace concierge

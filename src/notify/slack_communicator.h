// The Slack Communicator: turns a Notification into chat.postMessage (or
// chat.update when the payload names the message to replace), uploading the
// crop privately first when the message has one.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "notify/communicator.h"
#include "notify/slack_client.h"

namespace concierge {

// Where a posted Slack message is: the receipt of SlackCommunicator::Publish,
// "<channel>:<ts>" or "<channel>:<ts>:<image file id>".
struct SlackReceipt {
  std::string channel;
  std::string ts;
  std::string file_id;  // the uploaded crop, reused by updates; may be empty
  // The receipt text, as ParseSlackReceipt reads it.
  std::string ToString() const;
};
// Parses a receipt; kInvalidArgument when it has no channel and ts.
Result<SlackReceipt> ParseSlackReceipt(const std::string& receipt);

// Payload it understands: {"text": fallback text (required), "blocks": [...],
// "update_ts": "<ts>" to edit that message instead of posting, "image_key":
// object key of the crop to upload, or "image_file": an uploaded file id}.
// With a picture, the image block with block_id kCropBlockId gets it as its
// slack_file; without one (or when the object is gone) that block is dropped.
// The notification's channel, else default_channel, is where it goes.
class SlackCommunicator : public Communicator {
 public:
  // Reads an object-store key; kNotFound when the picture is gone.
  using ImageLoader = std::function<Result<std::string>(const std::string& key)>;

  // Needs a client; default_channel may be empty when every notification names
  // one; images may be null when no payload carries an image_key.
  SlackCommunicator(std::shared_ptr<SlackClient> client, std::string default_channel,
                    ImageLoader images = nullptr);

  std::string name() const override { return "slack"; }
  // Receipt: a SlackReceipt of the message posted or updated. The
  // idempotency key travels as Slack message metadata, so a duplicate after a
  // crash can be recognised in the channel history (SlackClient::FindMessage).
  Result<std::string> Publish(const Notification& notification) override;
  void Stop() override { client_->Cancel(); }

 private:
  std::shared_ptr<SlackClient> client_;
  std::string default_channel_;
  ImageLoader images_;
};

}  // namespace concierge

// Who a chat user is, as training needs it: the name a person created from a
// chat user gets, and whether the user may overrule the concierge. The chat
// (Slack) implements it in notify, so the pipeline does not depend on a chat.
#pragma once

#include <string>

#include "core/status.h"

namespace concierge {

struct ChatUser {
  std::string id;
  std::string real_name;  // the name in the user's profile, never empty (else the handle)
  bool admin = false;     // an admin or owner of the chat workspace
};

class ChatDirectory {
 public:
  virtual ~ChatDirectory() = default;
  // Needs a chat user id. kNotFound for an unknown user; kUnavailable when the
  // chat cannot be reached. Implementations are thread-safe.
  virtual Result<ChatUser> LookUp(const std::string& user_id) = 0;
};

}  // namespace concierge

// The one error type of the core: an errno plus a message that names the thing and says what
// to do. Thrown by operations that fail (mkfs, append, allocation); validation functions return
// status values instead, because "this entry is bad" is data, not an exceptional event.
#pragma once

#include <stdexcept>
#include <string>

namespace famfs {

class Error : public std::runtime_error {
 public:
  Error(int err, const std::string& message) : std::runtime_error(message), err_(err) {}
  int err() const noexcept { return err_; } // positive errno (ENOMEM, ENAMETOOLONG, ...)

 private:
  int err_;
};

} // namespace famfs

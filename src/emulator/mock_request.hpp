// Reading one generate request the way the API does, in its order: the key, the content type,
// the JSON, the generic schema, the model (catalog id, alias or trait), the model's own
// constraints; then what the emulator needs to answer it (size, format, images, price).
// No state and no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <simdjson.h>

#include "mock_catalog.hpp"
#include "mock_responses.hpp"
#include "venice_batch/image_format.hpp"

namespace venice_batch::mock {

/// An answer refusing a request before the policy sees it (auth, content type, validation, model).
struct Refusal {
  Refusal(int s, std::string b, std::string m = {}) : status(s), body(std::move(b)), model(std::move(m)) {}
  int status = 0;
  std::string body;
  std::string model;  ///< the model id the request named, when known (its quota headers go out)
};

/// A valid generate request.
struct Ask {
  std::string model;                ///< the id its quota and stats are kept under (aliases resolved)
  const MockModel* spec = nullptr;  ///< its catalog entry; nullptr for a model outside the catalog
  ImageFormat format = ImageFormat::webp;
  std::uint32_t width = 1024, height = 1024;
  int variants = 1;
  bool binary = false;
  std::string prompt;
  std::string request_json;  ///< the body, minified, echoed back in the 200
  Micros price = 0;          ///< catalog price x images

  int images() const { return binary ? 1 : variants; }
};

/// What a request is checked against.
struct RequestRules {
  const std::string& api_key;
  const MockCatalog& catalog;
  const std::vector<std::string>& extra_models;
  bool accept_unknown_models = true;
};

/// The Bearer check of every key-checked endpoint: no Authorization header is a 402 with the x402
/// body (as the API answers), any other key than ours a 401.
std::optional<Refusal> check_key(const Request& req, const std::string& api_key);

/// The request as an Ask, or the refusal the API would answer.
std::variant<Ask, Refusal> read_generate_request(const Request& req, simdjson::dom::parser& parser,
                                                 const RequestRules& rules);

}  // namespace venice_batch::mock

// The emulator's built-in image-model catalog, shaped like the API's answers (VENICE_API.md,
// Other endpoints): one model of each kind a client must handle. Prices as the API lists them.
#include "mock_catalog.hpp"

namespace venice_batch::mock {

namespace {

// GET /models?type=image. Constraint keys absent where the model does not use the field.
constexpr std::string_view kModels = R"json({"object": "list", "type": "image", "data": [
 {"id": "z-image-turbo", "type": "image", "object": "model", "created": 1764720000, "owned_by": "venice.ai",
  "model_spec": {"name": "Z-Image Turbo", "modelSource": "https://huggingface.co/Tongyi-MAI/Z-Image-Turbo",
   "offline": false, "privacy": "private", "traits": ["default", "fastest"],
   "constraints": {"promptCharacterLimit": 7500, "widthHeightDivisor": 16},
   "pricing": {"generation": {"usd": 0.01, "diem": 0.01}, "upscale": {"2x": {"usd": 0.02, "diem": 0.02}}},
   "supportsStyleReferences": false, "capabilities": {"supportsWebSearch": false}}},
 {"id": "venice-sd35", "type": "image", "object": "model", "created": 1743033600, "owned_by": "venice.ai",
  "model_spec": {"name": "Venice SD35", "offline": false, "privacy": "private", "traits": ["eliza-default"],
   "constraints": {"promptCharacterLimit": 1500, "steps": {"default": 25, "max": 50}, "widthHeightDivisor": 16},
   "pricing": {"generation": {"usd": 0.01, "diem": 0.01}},
   "supportsStyleReferences": false, "capabilities": {"supportsWebSearch": false}}},
 {"id": "qwen-image-2", "type": "image", "object": "model", "created": 1767225600, "owned_by": "venice.ai",
  "model_spec": {"name": "Qwen Image 2", "offline": false, "privacy": "private", "traits": [],
   "constraints": {"promptCharacterLimit": 2048,
    "aspectRatios": ["1:1", "4:3", "3:4", "16:9", "9:16"], "defaultAspectRatio": "1:1"},
   "pricing": {"generation": {"usd": 0.04, "diem": 0.04}},
   "supportsStyleReferences": false, "capabilities": {"supportsWebSearch": false}}},
 {"id": "nano-banana-pro", "type": "image", "object": "model", "created": 1763596800, "owned_by": "venice.ai",
  "model_spec": {"name": "Nano Banana Pro", "offline": false, "privacy": "anonymized", "traits": [],
   "constraints": {"promptCharacterLimit": 32768,
    "aspectRatios": ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"],
    "defaultAspectRatio": "1:1", "resolutions": ["1K", "2K", "4K"], "defaultResolution": "1K",
    "maxStyleReferences": 14},
   "pricing": {"resolutions": {"1K": {"usd": 0.18, "diem": 0.18}, "2K": {"usd": 0.18, "diem": 0.18},
                               "4K": {"usd": 0.35, "diem": 0.35}}},
   "supportsStyleReferences": true, "capabilities": {"supportsWebSearch": true}}},
 {"id": "gpt-image-2", "type": "image", "object": "model", "created": 1776643200, "owned_by": "venice.ai",
  "model_spec": {"name": "GPT Image 2", "offline": false, "privacy": "anonymized", "traits": ["highest_quality"],
   "constraints": {"promptCharacterLimit": 32000, "aspectRatios": ["1:1", "3:2", "2:3"], "defaultAspectRatio": "1:1",
    "resolutions": ["1K", "2K", "4K"], "defaultResolution": "1K",
    "qualities": ["low", "medium", "high"], "defaultQuality": "medium", "maxStyleReferences": 16},
   "pricing": {
    "resolutions": {"1K": {"usd": 0.07, "diem": 0.07}, "2K": {"usd": 0.18, "diem": 0.18}, "4K": {"usd": 0.35, "diem": 0.35}},
    "quality": {
     "1K": {"low": {"usd": 0.02, "diem": 0.02}, "medium": {"usd": 0.07, "diem": 0.07}, "high": {"usd": 0.21, "diem": 0.21}},
     "2K": {"low": {"usd": 0.05, "diem": 0.05}, "medium": {"usd": 0.18, "diem": 0.18}, "high": {"usd": 0.42, "diem": 0.42}},
     "4K": {"low": {"usd": 0.10, "diem": 0.10}, "medium": {"usd": 0.35, "diem": 0.35}, "high": {"usd": 0.83, "diem": 0.83}}}},
   "supportsStyleReferences": true, "capabilities": {"supportsWebSearch": false}}},
 {"id": "flux-dev", "type": "image", "object": "model", "created": 1722470400, "owned_by": "venice.ai",
  "model_spec": {"name": "FLUX Standard", "offline": false, "privacy": "private", "traits": [],
   "constraints": {"promptCharacterLimit": 2048, "steps": {"default": 25, "max": 30}, "widthHeightDivisor": 8},
   "pricing": {"generation": {"usd": 0.01, "diem": 0.01}},
   "deprecation": {"autoRemap": true, "date": "2026-12-31", "startsAt": "2026-11-01T00:00:00.000Z",
                   "removesAt": "2026-12-31T00:00:00.000Z", "replacementModelId": "z-image-turbo"},
   "supportsStyleReferences": false, "capabilities": {"supportsWebSearch": false}}},
 {"id": "hidream", "type": "image", "object": "model", "created": 1744934400, "owned_by": "venice.ai",
  "model_spec": {"name": "HiDream", "offline": true, "privacy": "private", "traits": [],
   "constraints": {"promptCharacterLimit": 1500, "steps": {"default": 20, "max": 50}, "widthHeightDivisor": 8},
   "pricing": {"generation": {"usd": 0.01, "diem": 0.01}},
   "supportsStyleReferences": false, "capabilities": {"supportsWebSearch": false}}},
 {"id": "venice-preview", "type": "image", "object": "model", "created": 1780000000, "owned_by": "venice.ai",
  "model_spec": {"name": "Venice Preview (internal)", "offline": false, "privacy": "private", "traits": [],
   "constraints": {"promptCharacterLimit": 7500, "widthHeightDivisor": 16},
   "supportsStyleReferences": false, "capabilities": {"supportsWebSearch": false}}}
]})json";

// GET /models/compatibility_mapping: names the API still accepts for these ids.
constexpr std::string_view kCompatibilityMapping = R"json({"data": {
 "stable-diffusion-3.5": "venice-sd35", "fluently-xl": "z-image-turbo", "nano-banana": "nano-banana-pro",
 "gpt-image": "gpt-image-2", "flux.1-dev": "flux-dev"}})json";

// GET /image/styles.
constexpr std::string_view kStyles = R"json({"object": "list", "data": [
 "3D Model", "Analog Film", "Anime", "Cinematic", "Comic Book", "Craft Clay", "Digital Art", "Enhance",
 "Fantasy Art", "Isometric Style", "Line Art", "Lowpoly", "Neon Punk", "Origami", "Photographic",
 "Pixel Art", "Texture", "Watercolor"]})json";

}  // namespace

MockCatalogSources builtin_catalog_sources() {
  return {std::string(kModels), std::string(kCompatibilityMapping), std::string(kStyles)};
}

}  // namespace venice_batch::mock

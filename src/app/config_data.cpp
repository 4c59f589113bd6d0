// The "data" section of a config: which data set, where, and how it is read and split.
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

#include "config_readers.h"

namespace distillery::detail {
namespace {

// data.image_size, resize, grayscale (image-folder) and layout (npy): only for their format.
void read_image_settings(ObjectReader& d, DataConfig& c) {
  for (const std::string key : {"image_size", "resize", "grayscale", "layout"}) {
    const char* format = key == "layout" ? "npy" : "image-folder";
    if (d.has(key) && c.dataset != format) {
      throw ConfigError("data." + key + ": only for data.dataset " + format + ", not " +
                        c.dataset + "; remove it");
    }
  }
  c.image_size = d.get("image_size", c.image_size);
  c.resize = d.get("resize", c.resize);
  c.grayscale = d.get("grayscale", c.grayscale);
  c.layout = d.get("layout", c.layout);
  if (!c.image_size.empty() &&
      (c.image_size.size() != 2 || c.image_size[0] < 1 || c.image_size[1] < 1 ||
       c.image_size[0] > 8192 || c.image_size[1] > 8192)) {
    throw ConfigError("data.image_size: must be [height, width] in pixels, each in [1, 8192]");
  }
  if (c.resize && c.image_size.empty()) {
    throw ConfigError("data.resize: needs data.image_size, the [height, width] to resize to");
  }
  if (c.layout != "auto" && c.layout != "nhwc" && c.layout != "nchw" && c.layout != "nhw") {
    throw ConfigError("data.layout: must be \"auto\", \"nhwc\", \"nchw\" or \"nhw\", got \"" +
                      c.layout + "\"");
  }
}

void read_omit_classes(ObjectReader& d, DataConfig& c, int64_t classes) {
  c.omit_classes = d.get("omit_classes", c.omit_classes);
  for (const auto k : c.omit_classes) {
    if (k < 0 || (classes > 0 && k >= classes)) {
      throw ConfigError("data.omit_classes: class " + std::to_string(k) + " is outside [0, " +
                        (classes > 0 ? std::to_string(classes) : "the number of classes") + ")");
    }
  }
  if (!c.omit_classes.empty() && c.heldout == 0) {
    throw ConfigError("data.heldout: must be > 0 with data.omit_classes, to choose the bias "
                      "shift on images the student never saw (e.g. 5000)");
  }
}

}  // namespace

DataConfig read_data(ObjectReader& root) {
  ObjectReader d(root.object("data"), "data");
  DataConfig c;
  c.dataset = d.get("dataset", c.dataset);
  int64_t classes = 0;  // 0: known once the data is read (load_experiment_data checks then)
  try {
    classes = dataset_classes(c.dataset);
  } catch (const std::invalid_argument&) {
    throw ConfigError("data.dataset: must be one of " + std::string(kDatasetNames) + ", got \"" +
                      c.dataset + "\"");
  }
  c.dir = d.get("dir", c.dir);
  check_path("data.dir", c.dir);
  read_image_settings(d, c);
  for (auto [key, field] : {std::pair{"train_limit", &c.train_limit},
                            std::pair{"test_limit", &c.test_limit},
                            std::pair{"heldout", &c.heldout}}) {
    *field = d.get(key, *field);
    if (*field < 0) {
      throw ConfigError(std::string("data.") + key + ": must be >= 0, got " + std::to_string(*field));
    }
  }
  c.unlabeled = d.get("unlabeled", c.unlabeled);
  read_omit_classes(d, c, classes);
  d.finish();
  return c;
}

nlohmann::json data_to_json(const DataConfig& c) {
  nlohmann::json out = {{"dataset", c.dataset},         {"dir", c.dir},
                        {"train_limit", c.train_limit}, {"test_limit", c.test_limit},
                        {"heldout", c.heldout},         {"unlabeled", c.unlabeled},
                        {"omit_classes", c.omit_classes}};
  if (c.dataset == "image-folder") {
    out["image_size"] = c.image_size;
    out["resize"] = c.resize;
    out["grayscale"] = c.grayscale;
  }
  if (c.dataset == "npy") out["layout"] = c.layout;
  return out;
}

}  // namespace distillery::detail

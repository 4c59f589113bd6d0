#include "distillery/specialists/clustering.h"

#include <torch/torch.h>

#include <opencv2/core.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <set>
#include <stdexcept>

#include "distillery/io.h"

namespace distillery::specialists {
namespace {

// Sets the calling thread's OpenCV generator (cv::theRNG()) to `state` and restores the
// caller's state on destruction, so that k-means leaves no trace in OpenCV's global state.
class SeededOpenCVGenerator {
 public:
  explicit SeededOpenCVGenerator(uint64_t state) : saved_(cv::theRNG().state) {
    cv::theRNG().state = state;
  }
  ~SeededOpenCVGenerator() { cv::theRNG().state = saved_; }
  SeededOpenCVGenerator(const SeededOpenCVGenerator&) = delete;
  SeededOpenCVGenerator& operator=(const SeededOpenCVGenerator&) = delete;

 private:
  uint64_t saved_;
};

}  // namespace

torch::Tensor prediction_covariance(const torch::Tensor& probabilities) {
  TORCH_CHECK(probabilities.dim() == 2 && probabilities.is_floating_point(),
              "probabilities must be a 2-D floating-point tensor [N, C], got ",
              probabilities.sizes(), " ", probabilities.scalar_type());
  TORCH_CHECK(probabilities.size(0) >= 2, "the covariance needs at least 2 examples, got ",
              probabilities.size(0));
  const auto p = probabilities.to(torch::kCPU, torch::kFloat64);
  const auto centered = p - p.mean(0, /*keepdim=*/true);
  return centered.t().matmul(centered) / static_cast<double>(p.size(0) - 1);
}

torch::Tensor correlation_from_covariance(const torch::Tensor& covariance) {
  TORCH_CHECK(covariance.dim() == 2 && covariance.size(0) == covariance.size(1),
              "a covariance matrix must be square [C, C], got ", covariance.sizes());
  const auto c = covariance.to(torch::kCPU, torch::kFloat64);
  const auto variance = c.diagonal();
  const auto scale = torch::where(variance > 0, variance.rsqrt(), torch::zeros_like(variance));
  auto r = c * scale.unsqueeze(1) * scale.unsqueeze(0);
  r.diagonal().fill_(1.0);
  return r;
}

KMeansResult kmeans(const torch::Tensor& points, const ClusteringOptions& options) {
  TORCH_CHECK(points.dim() == 2 && points.is_floating_point(),
              "k-means points must be a 2-D floating-point tensor [n, d], got ", points.sizes());
  TORCH_CHECK(options.clusters() >= 1 && options.clusters() <= points.size(0),
              "k-means needs 1 <= clusters <= number of points (", points.size(0), "), got ",
              options.clusters());
  TORCH_CHECK(options.restarts() >= 1, "k-means restarts must be >= 1, got ", options.restarts());
  TORCH_CHECK(options.max_iterations() >= 1, "k-means max_iterations must be >= 1, got ",
              options.max_iterations());
  auto x = points.to(torch::kCPU, torch::kFloat64).contiguous();
  TORCH_CHECK(torch::isfinite(x).all().item<bool>(), "k-means points hold a NaN or infinity");
  const double scale = x.abs().max().item<double>();
  if (scale > 0) x = x / scale;
  const auto x32 = x.to(torch::kFloat32).contiguous();
  const cv::Mat data(static_cast<int>(x32.size(0)), static_cast<int>(x32.size(1)), CV_32F,
                     const_cast<float*>(x32.data_ptr<float>()));
  cv::Mat labels, centers;
  // OpenCV draws the k-means++ starts from the calling thread's generator: seeded here for
  // this call, and given back to the caller as it was.
  const SeededOpenCVGenerator generator(options.seed() * 6364136223846793005ULL +
                                        1442695040888963407ULL);
  const double compactness = cv::kmeans(
      data, static_cast<int>(options.clusters()), labels,
      cv::TermCriteria(cv::TermCriteria::COUNT + cv::TermCriteria::EPS,
                       static_cast<int>(options.max_iterations()), 1e-9),
      static_cast<int>(options.restarts()), cv::KMEANS_PP_CENTERS, centers);
  KMeansResult result;
  result.assignments = torch::from_blob(labels.ptr<int>(), {labels.rows}, torch::kInt32)
                           .to(torch::kInt64);
  result.centers = torch::from_blob(centers.ptr<float>(), {centers.rows, centers.cols},
                                    torch::kFloat32)
                       .to(torch::kFloat64) *
                   (scale > 0 ? scale : 1.0);
  result.inertia = compactness * scale * scale;
  return result;
}

ClassSubsets normalized(ClassSubsets subsets) {
  for (auto& s : subsets) std::sort(s.begin(), s.end());
  std::sort(subsets.begin(), subsets.end(), [](const auto& a, const auto& b) {
    return a.empty() || (!b.empty() && a.front() < b.front());
  });
  return subsets;
}

ClassSubsets find_class_subsets(const torch::Tensor& probabilities,
                                const ClusteringOptions& options) {
  TORCH_CHECK(options.min_subset_size() >= 1, "min_subset_size must be >= 1, got ",
              options.min_subset_size());
  const auto covariance = prediction_covariance(probabilities);  // [C, C], symmetric
  const auto matrix =
      options.standardize() ? correlation_from_covariance(covariance) : covariance;
  // The columns of the symmetric matrix are its rows: one point per class.
  const auto result = kmeans(matrix, options);
  ClassSubsets clusters(static_cast<std::size_t>(options.clusters()));
  const auto assignments = result.assignments.accessor<int64_t, 1>();
  for (int64_t c = 0; c < assignments.size(0); ++c) {
    clusters[static_cast<std::size_t>(assignments[c])].push_back(c);
  }
  ClassSubsets kept;
  for (auto& s : clusters) {
    if (static_cast<int64_t>(s.size()) >= options.min_subset_size()) kept.push_back(s);
  }
  return normalized(kept);
}

void validate_class_subsets(const ClassSubsets& subsets, int64_t num_classes) {
  if (subsets.empty()) throw std::invalid_argument("no class subsets given; give at least one");
  std::set<int64_t> seen;
  for (std::size_t m = 0; m < subsets.size(); ++m) {
    const std::string which = "subset " + std::to_string(m);
    if (subsets[m].empty()) throw std::invalid_argument(which + " is empty");
    for (const auto c : subsets[m]) {
      if (c < 0 || c >= num_classes) {
        throw std::invalid_argument(which + ": class " + std::to_string(c) + " is outside [0, " +
                                    std::to_string(num_classes) + ")");
      }
      if (!seen.insert(c).second) {
        throw std::invalid_argument(which + ": class " + std::to_string(c) +
                                    " appears twice; subsets must be disjoint");
      }
    }
    if (static_cast<int64_t>(subsets[m].size()) == num_classes) {
      throw std::invalid_argument(which + " holds all " + std::to_string(num_classes) +
                                  " classes; a specialist needs a dustbin of other classes");
    }
  }
}

namespace {

ClassSubsets subsets_from_json(const nlohmann::json& json, int64_t num_classes,
                               const std::string& where) {
  if (json.is_object()) {
    for (const auto& item : json.items()) {
      if (item.key() != "subsets" && item.key() != "num_classes" && item.key() != "subset_names") {
        throw std::invalid_argument(where + ": unknown key \"" + item.key() +
                                    "\" (known: num_classes, subsets, subset_names)");
      }
    }
  }
  const auto& list = json.is_object() && json.contains("subsets") ? json.at("subsets") : json;
  const std::string shape = ": expected an array of arrays of class indices, e.g. [[0, 2, 4, 6], "
                            "[5, 7, 9]]";
  if (!list.is_array()) throw std::invalid_argument(where + shape);
  if (json.is_object() && json.contains("num_classes") &&
      json.at("num_classes") != nlohmann::json(num_classes)) {
    throw std::invalid_argument(where + ": the subsets were made for " +
                                json.at("num_classes").dump() + " classes but this data set has " +
                                std::to_string(num_classes));
  }
  ClassSubsets subsets;
  for (const auto& subset : list) {
    if (!subset.is_array()) throw std::invalid_argument(where + shape);
    subsets.emplace_back();
    for (const auto& c : subset) {
      if (!c.is_number_integer()) throw std::invalid_argument(where + shape);
      if (c.is_number_unsigned() && c.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        throw std::invalid_argument(where + ": class " + c.dump() + " is outside [0, " +
                                    std::to_string(num_classes) + ")");
      }
      subsets.back().push_back(c.get<int64_t>());
    }
  }
  try {
    validate_class_subsets(subsets, num_classes);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + ": " + e.what());
  }
  return normalized(subsets);
}

}  // namespace

ClassSubsets parse_class_subsets(const std::string& text, int64_t num_classes,
                                 const std::string& where) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(where + ": malformed class subsets JSON: " + e.what());
  }
  return subsets_from_json(json, num_classes, where);
}

void save_class_subsets(const std::string& path, const ClassSubsets& subsets, int64_t num_classes,
                        const std::vector<std::string>& class_names) {
  nlohmann::json out = {{"num_classes", num_classes}, {"subsets", subsets}};
  if (!class_names.empty()) {
    auto& named = out["subset_names"] = nlohmann::json::array();
    for (const auto& s : subsets) {
      named.push_back(nlohmann::json::array());
      for (const auto c : s) named.back().push_back(class_names.at(static_cast<std::size_t>(c)));
    }
  }
  write_file_atomic(path, out.dump(2) + "\n");
}

ClassSubsets load_class_subsets(const std::string& path, int64_t num_classes) {
  const auto text = read_file(path);
  try {
    return parse_class_subsets(text, num_classes, path);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
}

}  // namespace distillery::specialists

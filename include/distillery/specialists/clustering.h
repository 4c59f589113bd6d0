#pragma once
/// @file specialists/clustering.h
/// Which classes each specialist covers (Hinton et al. 2015, §5): the covariance of the
/// generalist's predicted probabilities, K-means on its columns (classes that are often
/// predicted together end up in one subset), and class subsets read and written as JSON.

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <type_traits>
#include <string>
#include <vector>

#include "distillery/option_fields.h"

namespace distillery::specialists {

/// Disjoint class subsets S_1..S_M, each sorted ascending, ordered by their smallest class.
using ClassSubsets = std::vector<std::vector<int64_t>>;

/// Covariance of predicted probabilities across examples (Hinton et al. 2015, §5):
/// `Σ = cov(P)` with P `[N, C]` (rows are examples, each a distribution over C classes);
/// entry (i, j) is the sample covariance (divisor N - 1) of the predicted probability of class
/// i with that of class j. Returns `[C, C]` float64, symmetric.
/// Throws c10::Error if `probabilities` is not 2-D floating point or has fewer than 2 rows.
torch::Tensor prediction_covariance(const torch::Tensor& probabilities);

/// The correlation matrix of a covariance `[C, C]`: entry (i, j) divided by the square roots
/// of the variances of i and j, so the diagonal is 1. A class whose predictions never vary
/// (variance 0) gets a zero row and column, and 1 on the diagonal. Returns `[C, C]` float64.
/// Throws c10::Error if `covariance` is not square.
torch::Tensor correlation_from_covariance(const torch::Tensor& covariance);

/// Settings of the class clustering.
struct ClusteringOptions {
  /// Number of K-means clusters M, in [1, C].
  TORCH_ARG(int64_t, clusters) = 3;
  /// K-means runs from different k-means++ starts; the most compact result is kept. >= 1.
  TORCH_ARG(int64_t, restarts) = 10;
  /// Lloyd iterations per run, >= 1.
  TORCH_ARG(int64_t, max_iterations) = 300;
  /// Clusters with fewer classes than this get no specialist (a class that is confused with
  /// no other gains nothing from one). >= 1.
  TORCH_ARG(int64_t, min_subset_size) = 2;
  /// Cluster the columns of the correlation matrix (the covariance of the predictions scaled
  /// to unit variance per class) instead of the raw covariance. The raw covariance's columns
  /// are dominated by their diagonal entry, each class's own variance, so K-means tends to
  /// group classes by how confidently they are predicted rather than by which classes are
  /// predicted together (README, "Specialists", shows both on Fashion-MNIST). false gives the
  /// paper's literal recipe.
  TORCH_ARG(bool, standardize) = true;
  /// Seed of the k-means++ starts: the same seed gives the same subsets.
  TORCH_ARG(uint64_t, seed) = 0;
};

/// The field table of the options a config's "specialists" section holds (option_fields.h), under
/// their config names (`max_iterations` is "kmeans_iterations" there); `seed` comes from the
/// caller. The bounds are those of any data; `clusters` must also be at most C.
template <typename Options, typename Visitor,
          std::enable_if_t<std::is_same_v<std::decay_t<Options>, ClusteringOptions>, int> = 0>
void visit_fields(Options& o, Visitor& v) {
  v.number("clusters", o.clusters(), Bounds::at_least(1), "K-means clusters M of the classes");
  v.number("restarts", o.restarts(), Bounds::closed(1, 10000),
           "k-means++ starts; the most compact result is kept");
  v.number("kmeans_iterations", o.max_iterations(), Bounds::closed(1, 1000000),
           "Lloyd iterations per start");
  v.number("min_subset_size", o.min_subset_size(), Bounds::at_least(1),
           "smaller clusters get no specialist");
  v.flag("standardize", o.standardize(),
         "cluster the correlation matrix (false: the covariance, the paper's recipe)");
}

/// Result of `kmeans`.
struct KMeansResult {
  /// `[n]` int64 cluster of each point, in [0, k).
  torch::Tensor assignments;
  /// `[k, d]` float64 cluster centres.
  torch::Tensor centers;
  /// Sum of squared distances of the points to their centres (compactness).
  double inertia = 0.0;
};

/// K-means clustering of the rows of `points` (`[n, d]`, floating point) into
/// `options.clusters()` clusters: `options.restarts()` runs of Lloyd's algorithm from
/// k-means++ starts (Arthur & Vassilvitskii 2007), keeping the most compact. Uses OpenCV's
/// `cv::kmeans`; the points are scaled by their largest absolute value first (K-means is
/// invariant to that), so tiny covariances cluster as well as large ones.
/// Throws c10::Error if `points` is not 2-D, holds a NaN or infinity, or has fewer rows
/// than clusters, or if an option is out of range.
KMeansResult kmeans(const torch::Tensor& points, const ClusteringOptions& options);

/// The class subsets of the specialists: K-means on the C columns of
/// `prediction_covariance(probabilities)` (standardised to the correlation matrix when
/// `options.standardize()`), dropping clusters smaller than
/// `options.min_subset_size()`. `probabilities` is `[N, C]` (e.g. the generalist's softmax on
/// held-out or training images). May return fewer than `options.clusters()` subsets.
/// Throws as `prediction_covariance` and `kmeans`.
ClassSubsets find_class_subsets(const torch::Tensor& probabilities,
                                const ClusteringOptions& options);

/// Checks that `subsets` is a usable set of specialist subsets for `num_classes` classes: at
/// least one subset, none empty, every class in [0, num_classes), no class twice (within or
/// across subsets), and no subset holding every class (its dustbin would never be a target).
/// Throws std::invalid_argument saying which subset and class is wrong.
void validate_class_subsets(const ClassSubsets& subsets, int64_t num_classes);

/// `subsets` sorted (each ascending, then by smallest class), as `find_class_subsets` returns.
ClassSubsets normalized(ClassSubsets subsets);

/// Reads subsets from JSON text: an array of arrays of class indices (`[[0, 2, 4, 6], [5, 7,
/// 9]]`), or an object holding one under "subsets" (the file `save_class_subsets` writes; its
/// "num_classes", when present, must equal `num_classes`). `where` names the value in messages.
/// Throws std::invalid_argument "<where>: ..." on malformed JSON, a wrong shape or type, or as
/// `validate_class_subsets`. The result is normalized.
ClassSubsets parse_class_subsets(const std::string& text, int64_t num_classes,
                                 const std::string& where);

/// Writes `{"num_classes": C, "subsets": [[...], ...], "subset_names": [[...], ...]}`
/// atomically; "subset_names" (the subsets spelled with `class_names`, C entries) only when
/// `class_names` is given.
/// Throws std::runtime_error naming the path on I/O failure.
void save_class_subsets(const std::string& path, const ClassSubsets& subsets, int64_t num_classes,
                        const std::vector<std::string>& class_names = {});

/// Reads a file written by `save_class_subsets` (or any JSON `parse_class_subsets`
/// accepts). Throws std::runtime_error naming the path if it is missing or malformed.
ClassSubsets load_class_subsets(const std::string& path, int64_t num_classes);

}  // namespace distillery::specialists

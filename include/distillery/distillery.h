#pragma once
/// @file distillery.h
/// The whole core library in one include: knowledge distillation (Hinton et al. 2015) of any
/// LibTorch module. See docs/architecture.md for what each header holds; the application layer
/// (JSON experiments, `distillery/app/`) is not included here.
/// Example:
///     #include <distillery/distillery.h>
///     namespace dl = distillery;
///     dl::distill(student, dl::Teacher(teacher_net), transfer_set,
///                 dl::DistillOptions().loss(dl::KDLossOptions().temperature(4)));

#include "distillery/bias_correction.h"
#include "distillery/callbacks.h"
#include "distillery/data/augmentation.h"
#include "distillery/data/cifar.h"
#include "distillery/data/dataset.h"
#include "distillery/data/idx.h"
#include "distillery/data/image_folder.h"
#include "distillery/data/npy.h"
#include "distillery/data/pixel_statistics.h"
#include "distillery/data/prefetcher.h"
#include "distillery/data/sampler.h"
#include "distillery/export.h"
#include "distillery/fingerprint.h"
#include "distillery/io.h"
#include "distillery/losses.h"
#include "distillery/metrics.h"
#include "distillery/model.h"
#include "distillery/model_size.h"
#include "distillery/models.h"
#include "distillery/optim.h"
#include "distillery/option_fields.h"
#include "distillery/runtime.h"
#include "distillery/soft_targets.h"
#include "distillery/specialists/clustering.h"
#include "distillery/specialists/inference.h"
#include "distillery/specialists/specialist.h"
#include "distillery/specialists/training.h"
#include "distillery/state_dict.h"
#include "distillery/teacher.h"
#include "distillery/trainer.h"
#include "distillery/version.h"
#include "distillery/zoo/zoo.h"

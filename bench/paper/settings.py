"""The models and training settings of each experiment of bench/paper/paper.py, in three sizes:
"reduced" (the default: each experiment under 45 minutes on the 2-core development machine),
"full" (closer to the paper's training lengths) and "smoke" (seconds, for the harness's test).

Every value here goes verbatim into the experiment configs (see include/distillery/app/config.h) and
into the results JSON, so a results table always says what produced it.
"""

# Hinton et al. 2015, §3: "two hidden layers of 1200 rectified linear hidden units ... strongly
# regularized using dropout ... the input images were jittered by up to two pixels". Dropout
# 0.3 rather than the paper's 0.5: with 0.5 and jitter, 10 epochs left the teacher at 1297
# Fashion-MNIST test errors, behind the unregularised small net (about 1070).
BIG_MLP = {"architecture": "mlp", "hidden": [1200, 1200], "dropout": 0.3}
# §3: "two hidden layers of 800 rectified linear hidden units and no regularization".
SMALL_MLP = {"architecture": "mlp", "hidden": [800, 800], "dropout": 0.0}
# The demo's teacher and student (configs/fashion_mnist.json).
DEMO_TEACHER = {"architecture": "convnet", "channels": [32, 64], "kernel_size": 3,
                "hidden": [512], "dropout": 0.3, "batch_norm": True}
DEMO_STUDENT = {"architecture": "mlp", "hidden": [400, 400], "dropout": 0.0}


def training(epochs, learning_rate=0.001, jitter=0):
    """A `<training>` object: Adam, batch 128, cosine learning-rate schedule."""
    out = {"epochs": epochs, "batch_size": 128, "optimizer": "adam",
           "learning_rate": learning_rate, "lr_schedule": "cosine"}
    if jitter:
        out["jitter_pixels"] = jitter
    return out


# Epoch counts per size: teacher, student (and the others named per experiment).
_EPOCHS = {
    "reduced": {"big_teacher": 30, "small_student": 10, "member": 8, "regularizer_teacher": 10,
                "few_data_student": 60, "generalist": 6, "specialist": 3, "demo_teacher": 5,
                "demo_student": 8},
    "full": {"big_teacher": 100, "small_student": 60, "member": 30, "regularizer_teacher": 30,
             "few_data_student": 200, "generalist": 20, "specialist": 10, "demo_teacher": 10,
             "demo_student": 20},
    "smoke": {"big_teacher": 1, "small_student": 1, "member": 1, "regularizer_teacher": 1,
              "few_data_student": 2, "generalist": 1, "specialist": 1, "demo_teacher": 1,
              "demo_student": 1},
}

# Data limits per size: (training images, test images); 0 = all.
_LIMITS = {"reduced": (0, 0), "full": (0, 0), "smoke": (600, 200)}


def settings(size, teacher_jitter=2):
    """Everything an experiment needs for one size ("reduced", "full" or "smoke"); the §3
    teachers' inputs are jittered by up to `teacher_jitter` pixels (the paper: 2)."""
    e = _EPOCHS[size]
    smoke = size == "smoke"
    train_limit, test_limit = _LIMITS[size]
    return {
        "size": size,
        "train_limit": train_limit,
        "test_limit": test_limit,
        "big_small": {
            "teacher": {"model": BIG_MLP, "training": training(e["big_teacher"], jitter=teacher_jitter)},
            "student": {"model": SMALL_MLP, "training": training(e["small_student"])},
            "temperatures": [1, 20] if smoke else [1, 2, 5, 10, 20],
            "alpha": 0.9,
        },
        "omitted_class": {
            "teacher": {"model": BIG_MLP, "training": training(e["big_teacher"], jitter=teacher_jitter)},
            "student": {"model": SMALL_MLP, "training": training(e["small_student"])},
            "omitted": 3,
            "heldout": 100 if smoke else 5000,
            "temperature": 20,
            "alpha": 0.9,
        },
        "ensemble": {
            "members": 3 if smoke else 10,
            "member": {"model": SMALL_MLP, "training": training(e["member"])},
            "combine": "arithmetic",
            "temperature": 4,
            "alpha": 0.9,
        },
        "regularizer": {
            "model": SMALL_MLP,
            "teacher_training": training(e["regularizer_teacher"]),
            "student_training": training(e["few_data_student"]),
            "fraction": 0.03,
            "temperature": 4,
            "alpha": 0.9,
        },
        "specialists": {
            "generalist": {"model": DEMO_TEACHER, "training": training(e["generalist"])},
            "heldout": 100 if smoke else 5000,
            "clusters": 2 if smoke else 4,
            "training": training(e["specialist"], learning_rate=0.0005),
            "temperature": 2.0,
            "alpha": 0.5,
        },
        "sweep": {
            "teacher": {"model": DEMO_TEACHER, "training": training(e["demo_teacher"])},
            "student": {"model": DEMO_STUDENT, "training": training(e["demo_student"])},
            "temperatures": [1, 4] if smoke else [1, 2, 4, 8, 16],
            "alphas": [0.5] if smoke else [0.1, 0.5, 0.9],
        },
    }

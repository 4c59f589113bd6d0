"""Fashion-MNIST for the reference scripts, read and normalised as distillery's loader does."""
import gzip
import os
import sys

import torch

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST normalisation, as distillery's loader


def read_idx(path):
    """An IDX file (plain or .gz) as a uint8 tensor of its dimensions."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return torch.frombuffer(bytearray(data[4 + 4 * rank:]), dtype=torch.uint8).view(*dims)


def find(directory, stem):
    """The path of `stem` or `stem.gz` in `directory`; exits naming both when neither exists."""
    for name in (stem, stem + ".gz"):
        if os.path.exists(os.path.join(directory, name)):
            return os.path.join(directory, name)
    sys.exit(f"{directory}: no {stem}[.gz]")


def training_set(directory, limit=0):
    """(images [N, 1, 28, 28] float32 normalised in float32, labels [N] int64), the first
    `limit` (0 = all)."""
    images = read_idx(find(directory, "train-images-idx3-ubyte"))
    labels = read_idx(find(directory, "train-labels-idx1-ubyte")).long()
    if limit > 0:
        images, labels = images[:limit], labels[:limit]
    # In place after the one conversion, as distillery's loader (same float32 operations).
    return images.float().div_(255.0).sub_(MEAN).div_(STD).unsqueeze(1).contiguous(), labels

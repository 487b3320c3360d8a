import pytest

from ceph_doctor.config import load_config

# Tiny but real: 64x64 inputs, a handful of synthetic images, a narrow U-Net.
TINY = [
    "data.input_size=[64, 64]",
    "data.synthetic.render_size=[96, 112]",
    "data.synthetic.train_images=16",
    "data.synthetic.val_images=6",
    "data.batch_size=4",
    "data.train_subset=4",
    "model.channels=8",
    "train.max_epochs=2",
    "train.log_every=1",
    "train.warmup_epochs=0",
]


@pytest.fixture
def tiny_config():
    def make(*overrides: str) -> dict:
        return load_config(None, [*TINY, *overrides])

    return make

"""Learning-rate schedules: the multiplier at each step, plateau reductions, and a resume that keeps them."""

from __future__ import annotations

import math

import pytest
import torch

from ceph_doctor.config import load_config
from ceph_doctor.errors import ConfigError
from ceph_doctor.train.best import BestSoFar
from ceph_doctor.train.optim import LrSchedule, PlateauReduction, build_scheduler


def factors(schedule: LrSchedule, steps: int) -> list[float]:
    return [schedule(step) for step in range(steps)]


def test_step_drops_by_gamma_at_each_milestone_after_the_warmup():
    values = factors(LrSchedule("step", warmup=10, total=100, gamma=0.1, milestones=(0.5, 0.8)), 100)
    assert values[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert values[10:50] == pytest.approx([1.0] * 40)
    assert values[50:80] == pytest.approx([0.1] * 30) and values[80:] == pytest.approx([0.01] * 20)


def test_one_cycle_rises_to_the_lr_then_anneals_far_below_its_start():
    schedule = LrSchedule("one_cycle", warmup=5, total=100)
    values = factors(schedule, 100)
    peak = max(range(100), key=values.__getitem__)
    assert peak == 30 and values[peak] == pytest.approx(1.0)  # 30 % of the run; warmup_epochs not added
    assert values[0] == pytest.approx(1 / 25)
    assert all(a < b for a, b in zip(values[:30], values[1:31]))
    assert all(a >= b for a, b in zip(values[30:], values[31:]))
    assert schedule(100) == pytest.approx(1 / 25 / 1e4)  # the run's end


def test_cosine_and_constant_are_as_before():
    cosine = LrSchedule("cosine", warmup=0, total=100)
    assert cosine(0) == pytest.approx(1.0) and cosine(50) == pytest.approx(0.5) and cosine(100) == pytest.approx(0.0)
    assert factors(LrSchedule("constant", warmup=0, total=10), 10) == [1.0] * 10


def test_plateau_drops_each_time_the_metric_goes_patience_validations_without_a_best():
    scheduler = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                                                  LrSchedule("plateau", warmup=0, total=1000, gamma=0.5))
    hook = PlateauReduction(patience=2)
    hook.follow(scheduler)
    best = BestSoFar("val/mre_mm", "min")
    seen = []
    for epoch, mre in enumerate([5.0, 4.0, 4.5, 4.2, 4.1, 4.3, 3.0, 3.5, 3.6], 1):
        best.update(mre, epoch)
        hook.on_validation_end(best=best)
        seen.append(scheduler.optimizer.param_groups[0]["lr"])  # what the next step trains at
    # Stale after epochs 3, 4 (drop), 5, 6 (drop); a new best at 7 keeps the lr, then 8, 9 (drop).
    assert seen == pytest.approx([1, 1, 1, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125])


def test_a_resumed_scheduler_keeps_its_plateau_reductions():
    config = load_config(None, ["train.schedule=plateau", "train.max_epochs=10"])
    parameter = torch.nn.Parameter(torch.zeros(1))

    def scheduler():
        return build_scheduler(torch.optim.SGD([parameter], lr=1.0), config, steps_per_epoch=5)

    first = scheduler()
    first.lr_lambdas[0].reductions = 2
    state = first.state_dict()
    torch.save(state, buffer := __import__("io").BytesIO())
    buffer.seek(0)
    resumed = scheduler()
    resumed.load_state_dict(torch.load(buffer, weights_only=True))  # plain numbers: weights-only loadable
    assert resumed.lr_lambdas[0].reductions == 2
    assert resumed.lr_lambdas[0](20) == pytest.approx(0.01)


@pytest.mark.parametrize("override", ["train.lr_milestones=[0.9, 0.5]", "train.lr_milestones=[1.5]",
                                      "train.lr_gamma=2", "train.schedule=exponential"])
def test_a_schedule_setting_out_of_range_is_refused_with_its_key(override):
    with pytest.raises(ConfigError, match=override.split("=")[0].replace(".", r"\.")):
        load_config(None, [override])


def test_the_trainer_steps_the_plateau_schedule_on_its_monitored_metric(tmp_path):
    """The logged lr of a real run follows the plateau rule applied to the run's own monitored metric."""
    from ceph_doctor.store import load_run
    from ceph_doctor.train.loop import Trainer
    from ceph_doctor.train.recorder import Recorder

    config = load_config(None, [
        "data.input_size=[32, 32]", "data.synthetic.render_size=[64, 64]", "data.synthetic.train_images=8",
        "data.synthetic.val_images=4", "data.batch_size=4", "data.train_subset=2", "model.channels=8",
        "train.max_epochs=4", "train.warmup_epochs=0", "train.schedule=plateau", "train.plateau_patience=1",
        "train.lr_gamma=0.5", "train.log_every=1",
        # A frozen backbone at a vanishing lr: the metric moves only by BatchNorm drift, so it goes stale.
        "optimizer.lr=1e-12", "model.unfreeze_after=never",
    ])
    run_dir = tmp_path / "run"
    summary = Trainer(config, run_dir, hooks=[Recorder(run_dir)]).fit()
    scalars = load_run(run_dir).scalars
    metric = scalars[scalars.tag == summary.best.metric].groupby("epoch")["value"].last()
    best, stale, drops, expected = math.inf, 0, 0, {}
    for epoch, value in metric.items():
        best, stale = (value, 0) if value < best else (best, stale + 1)
        drops += stale > 0  # patience 1: every validation without a new best
        expected[epoch + 1] = drops  # halvings of the lr the next epoch trains at
    first_lr = scalars[scalars.tag == "optim/lr"].groupby("epoch")["value"].first()
    logged = {epoch: round(math.log2(first_lr.iloc[0] / lr)) for epoch, lr in first_lr.items() if epoch > 1}
    assert logged == {epoch: expected[epoch] for epoch in logged}
    assert max(logged.values()) >= 1  # the run did go stale: the check above is not vacuous

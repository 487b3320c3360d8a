"""torch.distributed support: one process per device under torchrun.

Every rank trains on its share of the batches and evaluates its share of the
validation images; the predictions are gathered so that every rank holds the
whole validation, and only rank 0 writes anything. A single process gets the
same interface with nothing distributed, so the loop has no branches for it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ceph_doctor.data.dataset import PreparedSet
from ceph_doctor.train.evaluate import measure


class SingleProcess:
    rank = 0
    world_size = 1
    is_main = True
    device: torch.device | None = None  # let the config choose

    def wrap(self, model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        return model

    def shard(self, prepared: PreparedSet) -> PreparedSet:
        return prepared

    def sampler(self, dataset, seed: int):
        return None

    def sync_buffers(self, model: nn.Module) -> None:
        pass

    def average(self, value: torch.Tensor) -> torch.Tensor:
        return value

    def gather_split(self, result, prepared: PreparedSet):
        return result

    def close(self) -> None:
        pass


class Distributed(SingleProcess):
    def __init__(self, device_name: str):
        use_cuda = torch.cuda.is_available() and device_name != "cpu"
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.is_main = self.rank == 0
        if use_cuda:
            local_rank = int(os.environ.get("LOCAL_RANK", 0))
            torch.cuda.set_device(local_rank)
            self.device = torch.device("cuda", local_rank)
        else:
            self.device = torch.device("cpu")

    def wrap(self, model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        """`find_unused_parameters`: some parameters get no gradient at some steps (a frozen backbone),
        which DDP, left to expect every parameter's gradient, reports as an error."""
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(
            model, device_ids=ids, find_unused_parameters=find_unused_parameters
        )

    def shard_indices(self, count: int) -> list[int]:
        return list(range(self.rank, count, self.world_size))

    def shard(self, prepared: PreparedSet) -> PreparedSet:
        return prepared.subset(self.shard_indices(len(prepared)))

    def sampler(self, dataset, seed: int):
        from torch.utils.data.distributed import DistributedSampler

        return DistributedSampler(
            dataset, num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=seed, drop_last=True
        )

    def sync_buffers(self, model: nn.Module) -> None:
        """Give every rank rank 0's buffers (BatchNorm running statistics) before evaluating.

        DDP broadcasts buffers at the start of each training forward, and then
        every rank updates its own from its own batch: after the last step the
        ranks' running statistics differ, and so would their shards'
        predictions. Rank 0's are the ones its checkpoint saves, so the
        gathered predictions are those of the checkpoint.
        """
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)

    def average(self, value: torch.Tensor) -> torch.Tensor:
        """The mean over ranks, on every rank: decisions taken from it (divergence) are the same everywhere."""
        value = value.detach().clone()
        dist.all_reduce(value)
        return value / self.world_size

    def gather_split(self, result, prepared: PreparedSet):
        """Reassemble every rank's shard in the original image order and measure the whole."""
        local = (
            self.shard_indices(len(prepared)),
            result.pred,
            result.peak,
            result.width,
            result.loss * len(result.image_ids),
        )
        shards: list = [None] * self.world_size
        dist.all_gather_object(shards, local)
        count, num_landmarks = len(prepared), len(prepared.names)
        pred = np.empty((count, num_landmarks, 2), np.float32)
        heatmaps = result.peak is not None  # a sequence decoder has no peaks
        peak = np.empty((count, num_landmarks), np.float32) if heatmaps else None
        width = np.empty((count, num_landmarks), np.float32) if heatmaps else None
        loss_sum = 0.0
        for indices, shard_pred, shard_peak, shard_width, shard_loss in shards:
            pred[indices] = shard_pred
            if heatmaps:
                peak[indices], width[indices] = shard_peak, shard_width
            loss_sum += shard_loss
        return replace(
            result,
            image_ids=list(prepared.image_ids),
            pred=pred,
            true=prepared.landmarks,
            spacing_mm=prepared.spacing_mm,
            peak=peak,
            width=width,
            loss=loss_sum / max(1, count),
            metrics=measure(pred, prepared),
        )

    def close(self) -> None:
        """Wait for the other ranks and leave the group; at once if an exception is on its way out.

        A rank that fails cannot meet the others at a barrier (they wait in a
        collective of their own, for the backend's timeout: half an hour):
        it leaves, its process exits non-zero, and torchrun stops the rest.
        """
        if not dist.is_initialized():
            return
        if sys.exc_info()[0] is None:
            dist.barrier()
        dist.destroy_process_group()


def context(device_name: str = "auto") -> SingleProcess:
    """The distributed context torchrun set up, or a single process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return Distributed(device_name)
    return SingleProcess()

codec = dict(
    heatmap_size=(
        32,
        40,
    ),
    input_size=(
        64,
        80,
    ),
    sigma=0.3,
    type='MSRAHeatmap')
custom_hooks = []
default_hooks = dict(
    checkpoint=dict(interval=-1, save_last=False, type='CheckpointHook'),
    logger=dict(interval=2, log_metric_by_epoch=True, type='LoggerHook'),
    param_scheduler=dict(type='ParamSchedulerHook'),
    timer=dict(type='IterTimerHook'))
default_scope = None
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
launcher = 'none'
log_level = 'INFO'
log_processor = dict(by_epoch=True, window_size=1)
model = dict(
    freeze_backbone=False,
    task=dict(
        channels=None,
        decode='argmax',
        eval_bug=None,
        head='mlp',
        hidden=128,
        kind='heatmap',
        loss='mse',
        norm=True,
        sigma=0.3,
        stride=2),
    type='CephLandmarkModel')
optim_wrapper = dict(
    optimizer=dict(lr=0.003, type='Adam'), type='OptimWrapper')
param_scheduler = [
    dict(by_epoch=True, factor=1.0, type='ConstantLR'),
]
randomness = dict(deterministic=True, seed=0)
train_cfg = dict(max_epochs=25, type='EpochBasedTrainLoop', val_interval=1)
train_dataloader = dict(
    batch_size=8,
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        count=48,
        inplace_drift=None,
        label_noise_px=0.0,
        seed=0,
        split='train',
        task=dict(
            channels=None,
            decode='argmax',
            eval_bug=None,
            head='mlp',
            hidden=128,
            kind='heatmap',
            loss='mse',
            norm=True,
            sigma=0.3,
            stride=2),
        type='SyntheticCephDataset'),
    num_workers=0,
    sampler=dict(shuffle=True, type='DefaultSampler'))
val_cfg = dict(type='ValLoop')
val_dataloader = dict(
    batch_size=16,
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        count=12,
        split='val',
        task=dict(
            channels=None,
            decode='argmax',
            eval_bug=None,
            head='mlp',
            hidden=128,
            kind='heatmap',
            loss='mse',
            norm=True,
            sigma=0.3,
            stride=2),
        type='SyntheticCephDataset'),
    num_workers=0,
    sampler=dict(shuffle=False, type='DefaultSampler'))
val_evaluator = dict(
    debug_images=0,
    report_peak=True,
    split_count=12,
    type='CephKeypointMetric')
visualizer = dict(
    type='Visualizer', vis_backends=[
        dict(type='LocalVisBackend'),
    ])
work_dir = '/work/main/tests/corpus/cases/mmengine_sigma_small'

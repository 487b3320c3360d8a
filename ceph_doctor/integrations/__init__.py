"""The Recorder inside other training frameworks.

- `ceph_doctor.integrations.mmengine`: `CephDoctorHook`, an MMEngine hook (MMPose, MMDetection…);
- `ceph_doctor.integrations.lightning`: `CephDoctorCallback`, a Lightning callback.

Each imports its framework, so import the one you use; `import ceph_doctor` imports neither
(install them with `pip install ceph-doctor[mmengine]` or `ceph-doctor[lightning]`).
A plain PyTorch loop needs no adapter: see examples/plain_loop.py.
"""

"""One machine: `sampler` reads it with psutil (CPU, per-CPU, load, memory, swap,
filesystems, disk and network rates; in a worker thread). Its thresholds are the
alerter's default host rules (`vigil_alerter.defaults`)."""

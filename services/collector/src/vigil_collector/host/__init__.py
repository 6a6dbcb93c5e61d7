"""One machine: `sampler` reads it with psutil (CPU, per-CPU, load, memory, swap,
filesystems, disk and network rates; in a worker thread), `alerts` turns its samples
into threshold alerts, raised and resolved after a hold time, and `culprits` names the
busiest containers in a CPU or memory alert when the collector follows the engine."""

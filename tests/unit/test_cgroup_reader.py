"""The cgroup reader over trees laid out as the kernel does (real files in a tmp folder):
cgroup v1 and v2, the cgroupfs and systemd drivers, rootless, a private cgroup
namespace; the figures `docker stats` would show, from the files the engine reads."""

import itertools
from pathlib import Path

import pytest

from tests.cgroup_trees import CID, LAYOUTS, MEMORY_TOTAL, FakeHost, Figures, Layout
from vigil_collector.docker.cgroup_counters import blkio_bytes, io_stat_bytes, net_dev_bytes
from vigil_collector.docker.cgroup_stats import CgroupStats
from vigil_collector.docker.cgroups import CgroupTree
from vigil_collector.docker.running_containers import RunningContainer

MIB = 1024**2


def container(pid: int = 4242, host_network: bool = False) -> RunningContainer:
    return RunningContainer(id=CID, name="web", image="web:1", pid=pid, host_network=host_network)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reader(host: FakeHost, clock: Clock) -> CgroupStats:
    tree = CgroupTree.at(host.cgroup_root)
    assert tree is not None
    return CgroupStats(tree, host.proc_root, "h1", clock=clock)


@pytest.mark.parametrize("layout", LAYOUTS, ids=lambda layout: layout.name)
def test_every_layout_gives_the_figures_docker_stats_shows(tmp_path: Path, layout: Layout) -> None:
    host = FakeHost(tmp_path, layout)
    tree = CgroupTree.at(host.cgroup_root)
    assert tree is not None
    assert tree.version == layout.version
    clock = Clock()
    stats = reader(host, clock)
    try:
        first = stats.sample([container()]).containers[0]
        # two seconds later: half a CPU busy, 2000 bytes in and 1000 out
        clock.now += 2.0
        host.set(Figures(cpu_ns=6_000_000_000, rx=(2000, 1024), tx=1500))
        batch = stats.sample([container()])
    finally:
        stats.close()
    (figures,) = batch.containers
    assert first.cpu_percent == 0.0  # no delta yet
    assert batch.interval_s == 2.0
    assert (figures.id, figures.name, figures.image) == (CID[:12], "web", "web:1")
    assert figures.cpu_percent == 50.0
    assert figures.memory_usage == 40 * MIB  # usage less the inactive file cache
    assert figures.memory_limit == MEMORY_TOTAL  # no limit: the host's memory
    assert figures.memory_percent == round(40 * MIB / MEMORY_TOTAL * 100, 2)
    assert (figures.network_rx, figures.network_tx) == (3024, 1500)  # `lo` left out
    assert (figures.network_rx_per_s, figures.network_tx_per_s) == (1000.0, 500.0)
    assert (figures.block_read, figures.block_write) == (4096, 8192)
    assert figures.pids == 3
    assert figures.host_network is None
    assert "host_network" not in figures.model_dump_json()  # the wire is as before


@pytest.mark.parametrize("version", [1, 2])
def test_a_memory_limit_is_shown_and_percent_is_of_it(tmp_path: Path, version: int) -> None:
    layout = next(layout for layout in LAYOUTS if layout.version == version)
    host = FakeHost(tmp_path, layout)
    host.set(Figures(limit=100 * MIB, usage=60 * MIB, inactive_file=10 * MIB))
    stats = reader(host, Clock())
    (figures,) = stats.sample([container()]).containers
    stats.close()
    assert figures.memory_limit == 100 * MIB
    assert figures.memory_usage == 50 * MIB
    assert figures.memory_percent == 50.0


def test_a_host_network_container_is_flagged_and_not_counted(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, LAYOUTS[0])
    stats = reader(host, Clock())
    (figures,) = stats.sample([container(host_network=True)]).containers
    stats.close()
    assert figures.host_network is True
    assert (figures.network_rx, figures.network_tx) == (0, 0)  # not the host's traffic
    assert '"host_network":true' in figures.model_dump_json()


def test_a_container_whose_cgroup_is_not_there_is_left_out(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, LAYOUTS[2])
    stats = reader(host, Clock())
    strangers = [
        RunningContainer(id="b" * 64, name="elsewhere", image="x", pid=4242, host_network=False),
        RunningContainer(id=CID, name="stopped", image="x", pid=999_999, host_network=False),
    ]
    batch = stats.sample([*strangers, container()])
    stats.close()
    assert [c.name for c in batch.containers] == ["web"]


def test_a_restarted_container_is_read_anew_with_its_new_process(tmp_path: Path) -> None:
    host = FakeHost(tmp_path, LAYOUTS[0])
    clock = Clock()
    stats = reader(host, clock)
    stats.sample([container()])
    # the same container, a new init: its counters started over
    (host.proc_root / "5555" / "net").mkdir(parents=True)
    (host.proc_root / "5555" / "cgroup").write_text(
        (host.proc_root / "4242" / "cgroup").read_text()
    )
    (host.proc_root / "5555" / "net" / "dev").write_text(
        (host.proc_root / "4242" / "net" / "dev").read_text()
    )
    host.set(Figures(cpu_ns=1000))
    clock.now += 2
    (figures,) = stats.sample([container(pid=5555)]).containers
    stats.close()
    assert figures.cpu_percent == 0.0  # not a negative delta against the old process


def test_no_tree_is_no_reader(tmp_path: Path) -> None:
    assert CgroupTree.at(tmp_path / "missing") is None
    (tmp_path / "memory").mkdir()  # v1 without the other controllers
    assert CgroupTree.at(tmp_path) is None


def test_v1_block_io_takes_the_first_file_with_entries() -> None:
    assert blkio_bytes(b"Total 0\n") is None
    text = b"8:0 Read 10\n8:0 Write 20\n8:16 Read 1\n8:16 Write 2\n8:0 Total 30\nTotal 33\n"
    assert blkio_bytes(text) == (11, 22)


def test_v2_io_stat_sums_every_device() -> None:
    text = b"8:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=1 wbytes=2\n"
    assert io_stat_bytes(text) == (11, 22)


def test_net_dev_leaves_lo_out_and_sums_the_rest() -> None:
    text = "\n".join(
        itertools.chain(
            ["Inter-| header", " face |bytes ..."],
            [
                "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0",
                "  eth0: 5 1 0 0 0 0 0 0 7 1 0 0 0 0 0 0",
                "eth1:6 1 0 0 0 0 0 0 8 1 0 0 0 0 0 0",  # wide counters touch the colon
            ],
        )
    ).encode()
    assert net_dev_bytes(text) == (11, 15)

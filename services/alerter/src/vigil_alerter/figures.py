"""What a sample or a status says for a condition: the figure a metric condition reads
of a host, a container or a pod, and whether a status condition holds (and its figure)."""

from vigil.messages import (
    ContainerStats,
    GatewaySampled,
    HostMetricsSampled,
    Metric,
    PodUsage,
    StatusCondition,
    StatusEvent,
)
from vigil_alerter.targets import ContainerFacts, PodFacts, restarts_within


def percent(part: float, whole: float | None) -> float | None:
    return part / whole * 100.0 if whole else None


def host_figure(sample: HostMetricsSampled, metric: Metric) -> float | None:
    match metric:
        case Metric.CPU_PERCENT:
            return sample.cpu.percent
        case Metric.MEMORY_PERCENT:
            return sample.memory.percent
        case Metric.SWAP_PERCENT:
            return sample.swap.percent
        case Metric.DISK_PERCENT:
            return max((fs.percent for fs in sample.filesystems), default=None)
        case Metric.LOAD_1:
            return sample.load.one
    return None


def container_figure(stats: ContainerStats, metric: Metric) -> float | None:
    match metric:
        case Metric.CPU_PERCENT:
            return stats.cpu_percent
        case Metric.MEMORY_PERCENT:
            return stats.memory_percent
        case Metric.MEMORY_BYTES:
            return float(stats.memory_usage)
        case Metric.MEMORY_OF_LIMIT:
            return percent(stats.memory_usage, stats.memory_limit)
        case Metric.CPU_OF_LIMIT:  # cpu_percent is 100 per CPU, cpu_limit in CPUs
            return percent(stats.cpu_percent, stats.cpu_limit * 100.0 if stats.cpu_limit else None)
    return None


def pod_figure(pod: PodUsage, metric: Metric) -> float | None:
    match metric:
        case Metric.CPU_MILLICORES:
            return pod.cpu_millicores
        case Metric.MEMORY_BYTES:
            return float(pod.memory_bytes)
        case Metric.CPU_OF_LIMIT:
            return percent(pod.cpu_millicores, pod.cpu_limit_millicores)
        case Metric.MEMORY_OF_LIMIT:
            return percent(pod.memory_bytes, pod.memory_limit_bytes)
    return None


def gateway_figure(sample: GatewaySampled, metric: Metric) -> float | None:
    match metric:
        case Metric.SOCKETS:
            return float(sample.sockets)
        case Metric.SOCKETS_PERCENT:
            return sample.sockets_percent
        case Metric.SEND_FAILURES_PER_S:
            return sample.send_failures_per_s
    return None


def status_holds(facts: ContainerFacts | PodFacts, condition: StatusCondition, now: float) -> bool:
    match condition.event:
        case StatusEvent.EXITED_NONZERO:
            return facts.exited_nonzero
        case StatusEvent.OOM_KILLED:
            return facts.oom_killed
        case StatusEvent.UNHEALTHY:
            return isinstance(facts, ContainerFacts) and facts.unhealthy
        case StatusEvent.CRASH_LOOP:
            return isinstance(facts, PodFacts) and facts.crash_loop
        case StatusEvent.RESTART_LOOP:
            return restarts_within(facts.restarts, condition.window_s, now) >= condition.restarts
    return False


def status_figure(
    facts: ContainerFacts | PodFacts, condition: StatusCondition, now: float
) -> float:
    if condition.event is StatusEvent.RESTART_LOOP:
        return float(restarts_within(facts.restarts, condition.window_s, now))
    if condition.event is StatusEvent.EXITED_NONZERO and isinstance(facts, ContainerFacts):
        return float(facts.exit_code or 0)
    return 1.0 if status_holds(facts, condition, now) else 0.0

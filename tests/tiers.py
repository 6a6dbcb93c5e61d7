"""The whole suite as `make test` runs it: two lanes at once, then the load tier alone.

Most tests wait (on NATS, on a process starting, on an engine): while the suite ran in one
process, the machine's load stayed under 1 for 70 minutes. So two pytest processes share
the time. One lane runs the tests that need no more than NATS (and the unit tests), the
other those that drive the Docker engine, the Kubernetes testbed, Chromium or a whole
stack; each has its own nats-server and every test its own subject prefix, so the lanes
share nothing but the engine, which only the second drives. The load tier measures bounds
under a load of its own making, and a few tests spin a CPU or measure one (`alone`), so
they run last, by themselves.

`python -m tests.tiers [PYTEST ARGS]`: the arguments go to every lane (`-x`, `-k ...`);
with a marker expression of its own (`-m unit`) it is one pytest, as asked. Each lane's
lines are prefixed with its name; the exit status is the first failing lane's. At the end
every lane's failures and counts are printed again, together: a CI log's tail then names
what failed, wherever in the run it did.
"""

import asyncio
import re
import sys

ENGINE = "docker or k8s or stack or browser"
LANES = {
    "bus": f"not ({ENGINE} or alone)",
    "engine": f"({ENGINE}) and not (slow or alone)",
}
ALONE = {"alone": "slow or alone"}
NO_TESTS_COLLECTED = 5  # pytest's exit status when a selection is empty
# a failure's line in pytest's short summary, or its last ("=== 3 passed in 1.2s ===")
OUTCOME = re.compile(r"^(FAILED|ERROR) |^=+ .* in [\d.]+s( \([\d:]+\))? =+$")


async def _lane(name: str, selection: str | None, args: list[str]) -> tuple[int, list[str]]:
    """Run one pytest, its lines prefixed; its status, and its failures and count."""
    marked = [] if selection is None else ["-m", selection]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pytest", *marked, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    outcome = []
    async for raw in process.stdout:
        line = f"[{name}] {raw.decode(errors='replace')}"
        sys.stdout.write(line)
        sys.stdout.flush()
        if OUTCOME.match(line.removeprefix(f"[{name}] ")):
            outcome.append(line)
    return await process.wait(), outcome


async def _run(args: list[str]) -> int:
    if "-m" in args:  # the caller's own selection, which a lane's would replace
        return (await _lane("pytest", None, args))[0]
    lanes = await asyncio.gather(*(_lane(n, s, args) for n, s in LANES.items()))
    lanes += [await _lane(n, s, args) for n, s in ALONE.items()]
    sys.stdout.write("".join(line for _, outcome in lanes for line in outcome))
    statuses = [status for status, _ in lanes]
    # a selection (`-k`) may leave a lane empty; only every lane empty is a mistake
    failed = [status for status in statuses if status not in (0, NO_TESTS_COLLECTED)]
    if failed:
        return failed[0]
    return NO_TESTS_COLLECTED if all(statuses) else 0


def main() -> None:
    sys.exit(asyncio.run(_run(sys.argv[1:])))


if __name__ == "__main__":
    main()

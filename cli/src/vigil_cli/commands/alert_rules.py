"""`vigil alerts rules list|add|rm`: alert rules, read by viewers, written by operators.

A rule is made of flags (a target, one condition, its timing) or, with `--from FILE`
(`-` for standard input), of the JSON document `/api/alerts/rules` takes."""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vigil.messages import Rule, RuleDraft, Severity, StatusEvent
from vigil_cli.commands import Subparsers
from vigil_cli.errors import CliError
from vigil_cli.remote import OK, Remote, add_url_option, run
from vigil_cli.tables import table
from vigil_cli.times import duration

HEADERS = ("ID", "NAME", "TARGET", "CONDITION", "SEVERITY", "HOLD", "RECOVERY", "BY")


def add_parsers(actions: Subparsers) -> None:
    rules = actions.add_parser("rules", help="list, add or remove alert rules", description=__doc__)
    verbs = rules.add_subparsers(title="actions", metavar="ACTION", required=True)

    listing = verbs.add_parser("list", help="every rule", description="List every alert rule.")
    listing.set_defaults(handler=lambda args: run(lambda remote: _list(remote, args), args))

    add = verbs.add_parser("add", help="a new rule (an operator)", description=__doc__)
    add.add_argument("name", nargs="?", help="what the rule is called")
    add.add_argument("--from", dest="source", metavar="FILE", help="the rule as JSON (- : stdin)")
    where = add.add_argument_group("target (one kind)")
    where.add_argument("--hosts", metavar="GLOB", help="hosts (alone: a host rule)")
    where.add_argument("--container", metavar="GLOB", help="containers by name")
    where.add_argument("--label", metavar="KEY[=VALUE]", help="containers by label")
    where.add_argument("--container-id", metavar="ID", help="a container by id")
    where.add_argument("--clusters", metavar="GLOB", help="pods of these clusters")
    where.add_argument("--namespace", metavar="GLOB", help="pods by namespace")
    where.add_argument(
        "--selector", action="append", default=[], metavar="KEY=VALUE", help="pods by label"
    )
    where.add_argument("--workload", metavar="[KIND/]NAME", help="pods by owner")
    where.add_argument("--gateways", metavar="GLOB", help="gateway replicas by name")
    what = add.add_argument_group("condition (one)")
    what.add_argument(
        "--metric", help="cpu_percent, memory_percent, memory_of_limit, sockets_percent, ..."
    )
    what.add_argument("--above", type=float, metavar="X", help="raised over X")
    what.add_argument("--below", type=float, metavar="X", help="raised under X")
    what.add_argument("--status", choices=[e.value for e in StatusEvent], help="a status event")
    what.add_argument("--restarts", type=int, default=3, help="for restart_loop (default 3)")
    what.add_argument("--window", type=duration, help="restart_loop, --log (5m, 1m)")
    what.add_argument("--stale", type=duration, metavar="DURATION", help="silent this long")
    what.add_argument("--log", metavar="REGEX", help="log lines matching (RE2)")
    what.add_argument("--times", type=int, default=1, help="for --log: this many (default 1)")
    how = add.add_argument_group("behaviour")
    how.add_argument("--hold", type=duration, help="held this long to raise")
    how.add_argument("--recovery", type=duration, help="clear this long to resolve")
    how.add_argument("--cooldown", type=duration, help="quiet this long after a resolve")
    how.add_argument("--severity", choices=[s.value for s in Severity], default="warning")
    how.add_argument(
        "--rule-label", action="append", default=[], metavar="KEY=VALUE", help="carried by alerts"
    )
    how.add_argument(
        "--propose",
        metavar="restart|rollback|scale=N",
        help="an action its alerts propose, for an operator to confirm (`vigil alerts confirm`)",
    )
    add.set_defaults(handler=lambda args: run(lambda remote: _add(remote, args), args))

    remove = verbs.add_parser("rm", help="remove a rule (an operator)", description="Remove.")
    remove.add_argument("rule_id", metavar="ID")
    remove.set_defaults(handler=lambda args: run(lambda remote: _remove(remote, args), args))

    for verb in (listing, add, remove):
        add_url_option(verb)
        verb.add_argument("--json", action="store_true", help="print the answer as JSON")


def draft_of(args: argparse.Namespace) -> RuleDraft:
    """The rule the flags (or `--from`) describe; a `ValidationError` names what is wrong."""
    if args.source is not None:
        text = sys.stdin.read() if args.source == "-" else Path(args.source).read_text()
        try:
            return RuleDraft.model_validate(json.loads(text))
        except json.JSONDecodeError as exc:
            raise CliError(f"--from: not JSON ({exc})") from None
    if not args.name:
        raise CliError("a rule needs a name (or --from FILE)")
    document: dict[str, Any] = {
        "name": args.name,
        "target": _target(args),
        "condition": _condition(args),
        "severity": args.severity,
        "labels": _pairs(args.rule_label, "--rule-label"),
    }
    for field, value in (("hold_s", args.hold), ("recovery_s", args.recovery)):
        if value is not None:
            document[field] = value.total_seconds()
    if args.cooldown is not None:
        document["cooldown_s"] = args.cooldown.total_seconds()
    if args.propose is not None:
        document["propose"] = _proposal(args.propose)
    return RuleDraft.model_validate(document)


def _proposal(text: str) -> dict[str, Any]:
    action, equals, replicas = text.partition("=")
    if action in ("restart", "rollback") and not equals:
        return {"action": action}
    if action == "scale" and replicas.isdigit():
        return {"action": "scale", "replicas": int(replicas)}
    raise CliError(f"--propose {text[:40]!r}: restart or rollback (containers), scale=N (pods)")


def _target(args: argparse.Namespace) -> dict[str, Any]:
    pod = args.clusters or args.namespace or args.selector or args.workload
    container = args.container or args.label or args.container_id
    if sum(map(bool, (pod, container, args.gateways))) > 1:
        raise CliError("a rule targets containers, pods or gateway replicas, not two of them")
    if args.gateways:
        if args.hosts:
            raise CliError("--gateways picks gateway replicas: no --hosts with it")
        return {"kind": "gateway", "replicas": args.gateways}
    if pod:
        target: dict[str, Any] = {"kind": "pod", "selector": _pairs(args.selector, "--selector")}
        for field, value in (
            ("clusters", args.clusters),
            ("namespace", args.namespace),
            ("workload", args.workload),
        ):
            if value is not None:
                target[field] = value
        return target
    kind = "container" if container else "host"
    target = {"kind": kind, "hosts": args.hosts or "*"}
    for field, value in (
        ("name", args.container),
        ("label", args.label),
        ("id", args.container_id),
    ):
        if value is not None:
            target[field] = value
    return target


def _condition(args: argparse.Namespace) -> dict[str, Any]:
    given = [c for c in (args.metric, args.status, args.stale, args.log) if c is not None]
    if len(given) != 1:
        raise CliError(
            "one condition: --metric (with --above or --below), --status, --log or --stale"
        )
    if args.log is not None:
        condition = {"kind": "log", "pattern": args.log, "count": args.times}
        if args.window is not None:
            condition["window_s"] = args.window.total_seconds()
        return condition
    if args.metric is not None:
        if (args.above is None) == (args.below is None):
            raise CliError("--metric needs --above X or --below X")
        below = args.below is not None
        threshold = args.below if below else args.above
        return {"kind": "metric", "metric": args.metric, "threshold": threshold, "below": below}
    if args.status is not None:
        condition = {"kind": "status", "event": args.status, "restarts": args.restarts}
        if args.window is not None:
            condition["window_s"] = args.window.total_seconds()
        return condition
    return {"kind": "stale", "after_s": args.stale.total_seconds()}


def _pairs(texts: list[str], flag: str) -> dict[str, str]:
    pairs = {}
    for text in texts:
        key, equals, value = text.partition("=")
        if not equals:
            raise CliError(f"{flag} {text!r}: KEY=VALUE")
        pairs[key] = value
    return pairs


async def _list(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        rules = await api.alert_rules()
    print(rules.model_dump_json(indent=2) if args.json else _table(rules.rules, "no rules"))
    return OK


async def _add(remote: Remote, args: argparse.Namespace) -> int:
    draft = draft_of(args)
    async with remote.api() as api:
        rule = await api.create_alert_rule(draft)
    print(rule.model_dump_json(indent=2) if args.json else _table([rule], ""))
    return OK


async def _remove(remote: Remote, args: argparse.Namespace) -> int:
    async with remote.api() as api:
        rule = await api.delete_alert_rule(args.rule_id)
    print(rule.model_dump_json(indent=2) if args.json else _table([rule], ""))
    return OK


def _table(rules: list[Rule], empty: str) -> str:
    return table(HEADERS, [_row(rule) for rule in rules]) if rules else empty


def _row(rule: Rule) -> tuple[object, ...]:
    target = rule.target.model_dump(exclude_defaults=True, exclude={"kind"})
    said = ",".join(f"{k}={v}" for k, v in target.items()) or "*"
    condition = rule.condition.model_dump(exclude={"kind"}, exclude_defaults=True)
    return (
        rule.id,
        rule.name,
        f"{rule.target.kind}:{said}",
        f"{rule.condition.kind}:" + ",".join(f"{k}={v}" for k, v in condition.items()),
        rule.severity.value,
        f"{rule.hold_s:g}s",
        f"{rule.recovery_s:g}s",
        rule.created_by,
    )

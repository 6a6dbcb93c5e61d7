"""The gateway's HTTP and WebSocket paths that the client uses: one place for them."""

from urllib.parse import quote, urlencode

WEBSOCKET = "/ws"
HEALTH = "/healthz"
LOGIN = "/api/auth/token"
REFRESH = "/api/auth/refresh"
ME = "/api/auth/me"
DEPLOYS = "/api/deploys"
DEPLOY_HOSTS = "/api/deploys/hosts"
CONTAINERS = "/api/docker/containers"
CONTAINER_ACTIONS = "/api/docker/actions"
USERS = "/api/auth/users"
API_KEYS = "/api/auth/keys"
ALERTS = "/api/alerts"
ALERT_ACK = "/api/alerts/ack"
ALERT_PROPOSAL = "/api/alerts/proposal"
ALERT_RULES = "/api/alerts/rules"
SILENCES = "/api/alerts/silences"
LOG_SEARCH = "/api/logs/search"
LOG_AROUND = "/api/logs/around"


def container_logs(container: str) -> str:
    """Scroll-back: older lines of a container (an id, a name or a unique prefix)."""
    return f"/api/docker/{quote(container, safe='')}/logs"


def container_actions(host: str, container: str) -> str:
    return f"/api/docker/{quote(host, safe='')}/containers/{quote(container, safe='')}/actions"


def shell_url(
    base_url: str, host: str, container: str, command: list[str], cols: int, rows: int
) -> str:
    """The WebSocket of a shell running `command` in `container` of `host`."""
    path = f"/ws/docker/{quote(host, safe='')}/containers/{quote(container, safe='')}/exec"
    return _shell_url(base_url, path, command, cols, rows)


def pod_shell_url(
    base_url: str,
    cluster: str,
    namespace: str,
    pod: str,
    container: str | None,
    command: list[str],
    cols: int,
    rows: int,
) -> str:
    """The WebSocket of a shell running `command` in a container of a pod (its first
    without `container`)."""
    parts = [quote(part, safe="") for part in (cluster, namespace, pod)]
    path = "/ws/k8s/{}/namespaces/{}/pods/{}/exec".format(*parts)
    extra = [("container", container)] if container else []
    return _shell_url(base_url, path, command, cols, rows, extra)


def _shell_url(
    base_url: str,
    path: str,
    command: list[str],
    cols: int,
    rows: int,
    extra: list[tuple[str, str]] | None = None,
) -> str:
    terminal = [*(("cmd", part) for part in command), ("cols", cols), ("rows", rows)]
    query = urlencode([*terminal, *(extra or [])])
    return f"{websocket_url(base_url).removesuffix(WEBSOCKET)}{path}?{query}"


def workload_actions(cluster: str, namespace: str, kind: str, name: str) -> str:
    parts = "/".join(quote(part, safe="") for part in (cluster, namespace, kind, name))
    return f"/api/k8s/{parts}/actions"


def deploy(deploy_id: str) -> str:
    return f"{DEPLOYS}/{quote(deploy_id, safe='')}"


def cancel_deploy(deploy_id: str) -> str:
    return f"{deploy(deploy_id)}/cancel"


def user(username: str) -> str:
    return f"{USERS}/{quote(username, safe='')}"


def disable_user(username: str) -> str:
    return f"{user(username)}/disable"


def api_key(key_id: str) -> str:
    return f"{API_KEYS}/{quote(key_id, safe='')}"


def alert_rule(rule_id: str) -> str:
    return f"{ALERT_RULES}/{quote(rule_id, safe='')}"


def silence(silence_id: str) -> str:
    return f"{SILENCES}/{quote(silence_id, safe='')}"


def history(
    kind: str,
    *,
    host: str | None = None,
    container: str | None = None,
    cluster: str | None = None,
    namespace: str | None = None,
    pod: str | None = None,
    node: str | None = None,
) -> str:
    """Where `kind`'s history is: a `host`, a `container` of a host (id or name), every
    `containers` of a host, a `pod` or a `node` of a cluster."""
    names = {"host": host, "container": container, "cluster": cluster}
    names |= {"namespace": namespace, "pod": pod, "node": node}
    path = {
        "host": "/api/history/hosts/{host}",
        "containers": "/api/history/docker/{host}/containers",
        "container": "/api/history/docker/{host}/containers/{container}",
        "pod": "/api/history/k8s/{cluster}/pods/{namespace}/{pod}",
        "node": "/api/history/k8s/{cluster}/nodes/{node}",
    }.get(kind)
    if path is None:
        raise ValueError(f"{kind!r} is not a history: host, container, containers, pod or node")
    needed = [name for name in names if "{" + name + "}" in path]
    if missing := [name for name in needed if not names[name]]:
        raise ValueError(f"a {kind}'s history needs {', '.join(missing)}")
    return path.format(**{name: quote(str(names[name]), safe="") for name in needed})


def sse(channel: str) -> str:
    """A channel of `/ws` as Server-Sent Events (its parameters go in the query)."""
    return f"/sse/channels/{quote(channel, safe='')}"


def poll(channel: str) -> str:
    """A channel of `/ws` by HTTP polling (its parameters go in the query)."""
    return f"/api/poll/channels/{quote(channel, safe='')}"


def websocket_url(base_url: str) -> str:
    """`http://h:p` -> `ws://h:p/ws` (https -> wss)."""
    scheme, rest = base_url.rstrip("/").split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{WEBSOCKET}"

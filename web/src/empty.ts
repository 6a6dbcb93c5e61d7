// What the views say when they have nothing to show: what is missing, and why or what
// to do where the dashboard can tell. Plain functions of what the stores hold, so the
// words are tested apart from the pages.

/** The Docker source of a host, as its collector last said (`DockerSourceChanged`). */
export interface DockerSource {
  available: boolean;
  reason: string;
}

export interface Hint {
  what: string;
  why: string;
}

/** The containers table is empty: no engine followed, engines down, none running, or
 * the filters hide them all. */
export function noContainers(sources: ReadonlyMap<string, DockerSource>, filtered: boolean): Hint {
  if (filtered) return { what: "No container matches these filters.", why: "Clear the name, host or state filter to see the others." };
  const down = [...sources].filter(([, source]) => !source.available);
  const up = [...sources].filter(([, source]) => source.available).map(([host]) => host);
  if (sources.size === 0) {
    return {
      what: "No containers.",
      why:
        "Is Docker followed on this host? No collector has reported a Docker engine yet: a collector " +
        "follows the engine at DOCKER_HOST (or the local socket) once it answers " +
        "(VIGIL_COLLECTOR_DOCKER=auto, the default), and with VIGIL_COLLECTOR_DOCKER=on says so while it does not.",
    };
  }
  const reasons = down.map(([host, source]) => `Docker on ${host} does not answer${source.reason ? `: ${source.reason}` : ""}.`);
  const running = up.length ? [`Docker on ${up.join(", ")} runs no container.`] : [];
  return { what: "No containers.", why: [...reasons, ...running].join(" ") };
}

/** The Kubernetes page lists no cluster: say how one is added, and whether the user's
 * grant (`clusters` of `/api/auth/me`: `*` for all) may be why. */
export function noClusters(grant: readonly string[]): Hint {
  const add =
    "A collector follows the clusters of a kubeconfig: start it with VIGIL_COLLECTOR_KUBECONFIG=<file> " +
    "(each context is a cluster; VIGIL_COLLECTOR_K8S_CONTEXTS picks some), or run `make up` on a machine " +
    "whose KUBECONFIG or ~/.kube/config names the clusters.";
  let yours: string;
  if (grant.includes("*")) yours = "Your account may see every cluster, so none is followed yet.";
  else if (grant.length === 0) {
    yours =
      "Your account is granted no cluster, which may be why: an admin grants clusters when adding a user " +
      "(`vigil user add NAME --cluster CLUSTER`).";
  } else {
    yours = `Your account may see only ${grant.join(", ")}, which may be why: ask an admin for others.`;
  }
  return { what: "No cluster you may see.", why: `${add} ${yours}` };
}

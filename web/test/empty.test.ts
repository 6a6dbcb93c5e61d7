import { describe, expect, it } from "vitest";
import { type DockerSource, noClusters, noContainers } from "../src/empty";

const sources = (entries: [string, DockerSource][]) => new Map(entries);

describe("empty containers table", () => {
  it("asks whether Docker is followed when no collector reported an engine", () => {
    const hint = noContainers(sources([]), false);
    expect(hint.what).toBe("No containers.");
    expect(hint.why).toMatch(/^Is Docker followed on this host\?/);
    expect(hint.why).toContain("VIGIL_COLLECTOR_DOCKER");
  });

  it("says which engines do not answer and why, and which run none", () => {
    const hint = noContainers(
      sources([
        ["web1", { available: false, reason: "connection refused" }],
        ["web2", { available: true, reason: "" }],
      ]),
      false,
    );
    expect(hint.why).toBe("Docker on web1 does not answer: connection refused. Docker on web2 runs no container.");
  });

  it("says the filters hide them when there are some", () => {
    expect(noContainers(sources([]), true).what).toBe("No container matches these filters.");
  });
});

describe("empty Kubernetes page", () => {
  it("says how to add a cluster, and that a grant of all is not why", () => {
    const hint = noClusters(["*"]);
    expect(hint.what).toBe("No cluster you may see.");
    expect(hint.why).toContain("VIGIL_COLLECTOR_KUBECONFIG=<file>");
    expect(hint.why).toContain("`make up`");
    expect(hint.why).toContain("may see every cluster");
  });

  it("says when the user's grant may be why", () => {
    expect(noClusters([]).why).toContain("granted no cluster, which may be why");
    expect(noClusters(["prod"]).why).toContain("may see only prod, which may be why");
  });
});

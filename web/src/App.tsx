import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { App as AppProvider, type AppContext, hasRole, useApp } from "./app-context";
import { AskDialog } from "./components/AskDialog";
import { ConnectionIndicator } from "./components/ConnectionIndicator";
import { useLive } from "./live";
import { type Principal, Session } from "./session";
import { AlertStore, ContainerStore, HostStore } from "./stores";
import { browserEnvironment } from "./stream/environment";
import { StreamManager } from "./stream/manager";
import { Admin } from "./views/Admin";
import { Alerts } from "./views/Alerts";
import { ContainerDetail } from "./views/ContainerDetail";
import { Containers } from "./views/Containers";
import { DeployPage } from "./views/DeployPage";
import { Deploys } from "./views/Deploys";
import { HostOverview } from "./views/HostOverview";
import { Clusters, PodPage, Pods } from "./views/Kubernetes";
import { Login } from "./views/Login";
import { MergedLogs } from "./views/MergedLogs";

const BASE = window.location.origin;

function useHash(): string {
  return useSyncExternalStore(
    (listener) => {
      window.addEventListener("hashchange", listener);
      return () => window.removeEventListener("hashchange", listener);
    },
    () => window.location.hash.slice(1) || "/",
  );
}

export function Root() {
  const session = useMemo(() => new Session(BASE), []);
  const [signedIn, setSignedIn] = useState(session.signedIn);
  if (!signedIn) return <Login session={session} onSignedIn={() => setSignedIn(true)} />;
  return <SignedIn session={session} onSignedOut={() => setSignedIn(false)} />;
}

function SignedIn({ session, onSignedOut }: { session: Session; onSignedOut: () => void }) {
  const [me, setMe] = useState<Principal | null>(null);
  const parts = useMemo(() => {
    const manager = new StreamManager(BASE, session, browserEnvironment());
    return { manager, hosts: new HostStore(), containers: new ContainerStore(), alerts: new AlertStore() };
  }, [session]);

  useEffect(() => {
    const { manager, hosts, containers, alerts } = parts;
    const stops = [hosts.watch(manager), containers.watch(manager), alerts.watch(manager), manager.onLoggedOut(onSignedOut)];
    manager.start();
    session.api<Principal>("/api/auth/me").then(setMe, onSignedOut);
    return () => {
      stops.forEach((stop) => stop());
      manager.stop();
    };
  }, [parts, session, onSignedOut]);

  if (me === null) return <p className="muted">Loading…</p>;
  const context: AppContext = { session, me, ...parts };
  return (
    <AppProvider.Provider value={context}>
      <Shell onSignedOut={onSignedOut} />
    </AppProvider.Provider>
  );
}

function Shell({ onSignedOut }: { onSignedOut: () => void }) {
  const { me, manager, session, alerts } = useApp();
  useLive(alerts);
  const route = useHash();
  const active = alerts.active().length;
  const link = (href: string, label: string, testId: string) => (
    <a href={`#${href}`} className={route === href || (href !== "/" && route.startsWith(href)) ? "active" : ""} data-testid={testId}>
      {label}
    </a>
  );
  return (
    <div className="shell">
      <nav>
        <strong className="brand">Vigil</strong>
        {link("/", "Hosts", "nav-hosts")}
        {link("/containers", "Containers", "nav-containers")}
        {link("/logs", "Merged logs", "nav-merged")}
        {link("/k8s", "Kubernetes", "nav-k8s")}
        {link("/deploys", "Deploys", "nav-deploys")}
        {link("/alerts", active ? `Alerts (${active})` : "Alerts", "nav-alerts")}
        {hasRole(me, "admin") && link("/admin", "Admin", "nav-admin")}
        <span className="spacer" />
        <ConnectionIndicator manager={manager} />
        <span className="muted">{me.name}</span>
        <button onClick={() => void session.logout().then(onSignedOut)}>Sign out</button>
      </nav>
      <main>
        <Page route={route} />
      </main>
      <AskDialog manager={manager} />
    </div>
  );
}

function Page({ route }: { route: string }) {
  const [path, query = ""] = route.split("?", 2);
  const parts = path.split("/").filter(Boolean);
  switch (parts[0]) {
    case undefined:
      return <HostOverview />;
    case "containers":
      return parts.length === 3 ? <ContainerDetail host={parts[1]} id={parts[2]} /> : <Containers />;
    case "logs":
      return <MergedLogs key={query} query={query} />;
    case "k8s": {
      const [cluster, namespace, pod] = parts.slice(1).map(decodeURIComponent);
      if (parts.length === 4) return <PodPage key={route} cluster={cluster} namespace={namespace} pod={pod} />;
      return parts.length === 2 ? <Pods key={cluster} cluster={cluster} /> : <Clusters />;
    }
    case "deploys":
      return parts.length === 2 ? <DeployPage id={parts[1]} /> : <Deploys />;
    case "alerts":
      return <Alerts />;
    case "admin":
      return <Admin />;
    default:
      return <p>No such page.</p>;
  }
}

import { createContext, useContext } from "react";
import type { Principal, Session } from "./session";
import type { AlertStore, ContainerStore, HostStore } from "./stores";
import type { StreamManager } from "./stream/manager";

export interface AppContext {
  session: Session;
  manager: StreamManager;
  me: Principal;
  hosts: HostStore;
  containers: ContainerStore;
  alerts: AlertStore;
}

export const App = createContext<AppContext | null>(null);

export function useApp(): AppContext {
  const app = useContext(App);
  if (app === null) throw new Error("useApp outside the signed-in app");
  return app;
}

export function hasRole(me: Principal, role: "viewer" | "operator" | "admin"): boolean {
  const order = ["viewer", "operator", "admin"];
  return me.roles.some((held) => order.indexOf(held) >= order.indexOf(role));
}

/** Whether it may open shells: an admin, or an operator granted `exec` (as
 * `vigil.access.Principal.may_exec`; the gateway decides, this only hides the button). */
export function mayExec(me: Principal): boolean {
  return hasRole(me, "admin") || (hasRole(me, "operator") && (me.permissions ?? []).includes("exec"));
}

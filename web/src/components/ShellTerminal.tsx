// A shell in a container or a pod's (admins and operators granted exec; the gateway's
// VIGIL_EXEC_ENABLED): one WebSocket to `path`, /ws/docker/{host}/containers/{id}/exec
// or /ws/k8s/{cluster}/namespaces/{ns}/pods/{pod}/exec, its binary frames the terminal's bytes both
// ways, its text frames control (`resize` from here; `opened` first and `ended` last
// from the gateway). The terminal is xterm.js. A refusal (exec off, no grant) comes as
// the socket's close reason, shown under the terminal.

import { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { useEffect, useRef, useState } from "react";
import type { Session } from "../session";

const COLS = 100;
const ROWS = 24;

/** The socket of a container's shell. */
export function containerShell(host: string, id: string): string {
  return `/ws/docker/${encodeURIComponent(host)}/containers/${encodeURIComponent(id)}/exec`;
}

/** The socket of a shell in a pod's container. */
export function podShell(cluster: string, namespace: string, pod: string, container: string): string {
  const path = [cluster, namespace, pod].map(encodeURIComponent);
  return `/ws/k8s/${path[0]}/namespaces/${path[1]}/pods/${path[2]}/exec?container=${encodeURIComponent(container)}`;
}

export function ShellTerminal({ session, path }: { session: Session; path: string }) {
  const [open, setOpen] = useState(false);
  return (
    <div className="shell" data-testid="shell">
      <button onClick={() => setOpen(!open)}>{open ? "close shell" : "shell"}</button>
      {open && <ShellSocket key={path} session={session} path={path} />}
    </div>
  );
}

function ShellSocket({ session, path }: { session: Session; path: string }) {
  const screen = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState("opening…");

  useEffect(() => {
    const terminal = new Terminal({ cols: COLS, rows: ROWS, convertEol: false });
    terminal.open(screen.current!);
    const size = `cols=${COLS}&rows=${ROWS}`;
    const socket = new WebSocket(
      session.socketUrl(`${path}${path.includes("?") ? "&" : "?"}${size}`),
      ["vigil", `bearer.${session.token()}`],
    );
    socket.binaryType = "arraybuffer";
    let ended = false;
    socket.onmessage = (event) => {
      if (event.data instanceof ArrayBuffer) {
        terminal.write(new Uint8Array(event.data));
        return;
      }
      const control = JSON.parse(event.data as string);
      if (control.type === "opened") {
        setStatus(`shell in ${control.name} on ${control.host}`);
        terminal.focus();
      } else if (control.type === "ended") {
        ended = true;
        const code = control.exit_code === null || control.exit_code === undefined ? "" : ` (exit code ${control.exit_code})`;
        setStatus(`ended: ${control.reason}${code}${control.detail ? ` ${control.detail}` : ""}`);
      }
    };
    socket.onclose = (event) => {
      if (!ended) setStatus(`closed: ${event.reason || `code ${event.code}`}`);
    };
    const encoder = new TextEncoder();
    const typed = terminal.onData((data) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(encoder.encode(data));
    });
    const resized = terminal.onResize(({ cols, rows }) => {
      if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "resize", cols, rows }));
    });
    return () => {
      typed.dispose();
      resized.dispose();
      socket.close();
      terminal.dispose();
    };
  }, [session, path]);

  return (
    <div>
      <div ref={screen} className="shell-screen" data-testid="shell-screen" />
      <span className="muted" role="status" data-testid="shell-status">
        {status}
      </span>
    </div>
  );
}

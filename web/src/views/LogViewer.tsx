// A container's log (`docker.logs`) in the shared log view, with scroll-back: "Load
// older" asks the gateway for the page before the oldest line held (seed 002's
// `before`/`limit`), back to the start of the log.

import { useCallback } from "react";
import { useApp } from "../app-context";
import { LogView, type Older } from "../components/LogView";
import { type Entry, lineEntries } from "../logs";

const PAGE_LINES = 200;

interface LogPage {
  lines: { time: string; stream: string; text: string }[];
  next_before: string | null;
}

export function LogViewer({ host, container }: { host: string; container: string }) {
  const { session } = useApp();
  const older = useCallback(
    async (oldest: Entry | undefined): Promise<Older> => {
      const query = new URLSearchParams({ host, limit: String(PAGE_LINES) });
      if (oldest) query.set("before", oldest.time);
      const page = await session.api<LogPage>(`/api/docker/${encodeURIComponent(container)}/logs?${query}`);
      return { entries: lineEntries({ lines: page.lines }), atStart: page.next_before === null };
    },
    [session, host, container],
  );
  return (
    <LogView channel="docker.logs" params={{ container, host }} entries={lineEntries} fileName={`${container}.log`} older={older} />
  );
}

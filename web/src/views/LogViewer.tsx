// One source's log (a container's `docker.logs`, a pod's `k8s.logs`: the channel and its
// params are props) in the shared log view, with scroll-back: "Load older" asks
// `olderUrl` for the page before the oldest line held (seed 002's `before`/`limit`),
// back to the start of the log; its search can ask the server's kept logs too.

import { useCallback } from "react";
import { useApp } from "../app-context";
import { LogView, type Older } from "../components/LogView";
import { type Entry, lineEntries } from "../logs";
import type { Params } from "../stream/protocol";

const PAGE_LINES = 200;

interface LogPage {
  lines: { time: string; stream: string; text: string }[];
  next_before: string | null;
}

interface Props {
  channel: string;
  params: Params;
  olderUrl: string;
  fileName: string;
  /** The source in `/api/logs/search`'s terms (the search box can ask the server). */
  searchWhere: Params;
}

export function LogViewer({ channel, params, olderUrl, fileName, searchWhere }: Props) {
  const { session } = useApp();
  const older = useCallback(
    async (oldest: Entry | undefined): Promise<Older> => {
      const query = new URLSearchParams({ limit: String(PAGE_LINES) });
      if (oldest) query.set("before", oldest.time);
      const page = await session.api<LogPage>(`${olderUrl}${olderUrl.includes("?") ? "&" : "?"}${query}`);
      return { entries: lineEntries({ lines: page.lines }), atStart: page.next_before === null };
    },
    [session, olderUrl],
  );
  return (
    <LogView channel={channel} params={params} entries={lineEntries} fileName={fileName} older={older} searchWhere={searchWhere} />
  );
}

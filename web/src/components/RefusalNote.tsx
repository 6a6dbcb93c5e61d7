// What a view says while the gateway refuses one of its channels for now (rate limited,
// too many subscriptions, the bus away): why, and when it tries again — counting down
// to the retry, and gone once the channel is answered.

import { useEffect, useState } from "react";
import { useApp } from "../app-context";
import { type Refusal, refusalText } from "../stream/refusals";
import type { StreamManager } from "../stream/manager";

/** The refusals in force for `keys` (subscription keys, `channelKey(channel, params)`). */
export function useRefusals(manager: StreamManager, keys: readonly string[]): Refusal[] {
  const [board, setBoard] = useState<ReadonlyMap<string, Refusal>>(new Map());
  useEffect(() => manager.onRefusals(setBoard), [manager]);
  return keys.flatMap((key) => board.get(key) ?? []);
}

export function RefusalNote({ channels }: { channels: readonly string[] }) {
  const { manager } = useApp();
  return <RefusalList refusals={useRefusals(manager, channels)} />;
}

/** The refusals as lines of text (the same words said once). */
export function RefusalList({ refusals, now }: { refusals: Refusal[]; now?: number }) {
  const [, tick] = useState(0);
  const counting = refusals.some((refusal) => refusal.retryAt !== null);
  useEffect(() => {
    if (!counting || now !== undefined) return;
    const timer = window.setInterval(() => tick((n) => n + 1), 1000);
    return () => window.clearInterval(timer);
  }, [counting, now]);
  const at = now ?? Date.now();
  const lines = [...new Map(refusals.map((refusal) => [refusalText(refusal, at), refusal])).entries()];
  return (
    <>
      {lines.map(([text, refusal]) => (
        <p key={text} className="refusal" role="status" data-testid="refusal" data-code={refusal.code}>
          {text}
        </p>
      ))}
    </>
  );
}

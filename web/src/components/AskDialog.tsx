// A question from a service (the deployer's "switch now?"), answered once.

import { useEffect, useState } from "react";
import type { StreamManager } from "../stream/manager";
import type { AskFrame } from "../stream/protocol";

export function AskDialog({ manager }: { manager: StreamManager }) {
  const [questions, setQuestions] = useState<(AskFrame & { deadline: number })[]>([]);
  const [, tick] = useState(0);

  useEffect(
    () => manager.onAsk((ask) => setQuestions((q) => [...q, { ...ask, deadline: Date.now() + ask.timeout_s * 1000 }])),
    [manager],
  );
  useEffect(() => {
    if (questions.length === 0) return;
    const timer = window.setInterval(() => {
      setQuestions((q) => q.filter((ask) => ask.deadline > Date.now()));
      tick((n) => n + 1);
    }, 1000);
    return () => window.clearInterval(timer);
  }, [questions.length]);

  const ask = questions[0];
  if (ask === undefined) return null;
  const reply = (confirm: boolean) => {
    manager.answer(ask.requestId, { confirm });
    setQuestions((q) => q.slice(1));
  };
  const left = Math.max(0, Math.ceil((ask.deadline - Date.now()) / 1000));
  return (
    <div className="overlay">
      <div className="dialog" role="dialog" aria-label="confirmation" data-testid="ask-dialog">
        <h3>{ask.kind === "confirm_deploy" ? "Confirm deploy" : ask.kind === "confirm_action" ? "Confirm action" : "Question"}</h3>
        <p>{ask.question}</p>
        <p className="muted">Answer within {left} s.</p>
        <div className="actions">
          <button className="primary" onClick={() => reply(true)}>
            Confirm
          </button>
          <button onClick={() => reply(false)}>Decline</button>
        </div>
      </div>
    </div>
  );
}

// What an empty table or list says: what is missing and, where it helps, what to do.

import type { ReactNode } from "react";

/** `what`: what is missing ("No containers."); `children`: why, or what to do. */
export function Empty({ what, children, testId = "empty" }: { what: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="empty" data-testid={testId}>
      <strong>{what}</strong>
      {children && <span className="muted"> {children}</span>}
    </div>
  );
}

/** The same as the one row of an empty table's body. */
export function EmptyRow({ columns, what, children, testId }: { columns: number; what: string; children?: ReactNode; testId?: string }) {
  return (
    <tr>
      <td colSpan={columns}>
        <Empty what={what} testId={testId}>
          {children}
        </Empty>
      </td>
    </tr>
  );
}

import { describe, expect, it } from "vitest";
import { SOURCE_COLOURS, Sources, entriesText, lineEntries, mergedEntries, nameGlob, shownEntries, toggled } from "../src/logs";

const merged = (name: string, text: string, extra: Record<string, unknown> = {}) => ({
  time: "2026-11-23T05:00:00.000001Z", stream: "stdout", text, host: "h1", container: `id-${name}`, name, ...extra,
});

describe("Sources", () => {
  it("gives each source a colour of its own, in the order first seen, and keeps it", () => {
    const sources = new Sources();
    const a = sources.see("api-1");
    const b = sources.see("api-2");
    expect(a).toBe(SOURCE_COLOURS[0]);
    expect(b).toBe(SOURCE_COLOURS[1]);
    expect(sources.see("api-1")).toBe(a);
    expect(sources.colourOf("api-2")).toBe(b);
    expect(sources.colourOf("never")).toBeUndefined();
    expect(sources.names).toEqual(["api-1", "api-2"]);
  });

  it("goes round the palette once every colour is taken", () => {
    const sources = new Sources();
    const colours = Array.from({ length: SOURCE_COLOURS.length + 2 }, (_, i) => sources.see(`s${i}`));
    expect(new Set(colours.slice(0, SOURCE_COLOURS.length)).size).toBe(SOURCE_COLOURS.length);
    expect(colours.slice(SOURCE_COLOURS.length)).toEqual(SOURCE_COLOURS.slice(0, 2));
  });
});

describe("toggles", () => {
  it("hide a shown source and show a hidden one, in a new set", () => {
    const none = new Set<string>();
    const one = toggled(none, "a");
    expect([...one]).toEqual(["a"]);
    expect(none.size).toBe(0); // React state: never changed in place
    expect([...toggled(one, "b")].sort()).toEqual(["a", "b"]);
    expect([...toggled(one, "a")]).toEqual([]);
  });
});

describe("merged entries", () => {
  const entries = mergedEntries({
    lines: [
      merged("a", "a 1"),
      merged("b", "— joined", { marker: "joined" }),
      merged("b", "b 1 ERROR boom", { stream: "stderr" }),
      merged("a", "a 0", { late: true }),
      merged("a", "— left", { marker: "left" }),
    ],
  });

  it("carry their source, markers for joining and leaving, late lines marked", () => {
    expect(entries.map((e) => [e.kind, e.source, e.late ?? false])).toEqual([
      ["line", "a", false],
      ["joined", "b", false],
      ["line", "b", false],
      ["line", "a", true],
      ["left", "a", false],
    ]);
    expect(entries[1].text).toBe("b joined (on h1)");
    expect(entries[2].level).toBe("error");
  });

  it("are shown but for hidden sources (their markers too), searched by text or source", () => {
    const all = { upTo: entries.length, search: "", level: "" as const, hidden: new Set<string>() };
    expect(shownEntries(entries, all)).toHaveLength(5);
    expect(shownEntries(entries, { ...all, hidden: new Set(["a"]) }).map((e) => e.text)).toEqual(["b joined (on h1)", "b 1 ERROR boom"]);
    expect(shownEntries(entries, { ...all, search: "boom" }).map((e) => e.kind)).toEqual(["joined", "line", "left"]);
    expect(shownEntries(entries, { ...all, search: "A" }).filter((e) => e.kind === "line")).toHaveLength(2);
    expect(shownEntries(entries, { ...all, level: "error" }).filter((e) => e.kind === "line")).toHaveLength(1);
    expect(shownEntries(entries, { ...all, upTo: 1 })).toHaveLength(1); // paused
  });

  it("name a pod by cluster, namespace and pod, as pods of two clusters may share a name", () => {
    const pod = { time: "t", stream: "stdout", cluster: "east", namespace: "shop", name: "web-1", container: "app" };
    const [line, joined] = mergedEntries({
      lines: [
        { ...pod, text: "hello" },
        { ...pod, container: undefined, text: "— joined", marker: "joined" },
      ],
    });
    expect([line.source, line.text]).toEqual(["east/shop/web-1", "hello"]);
    expect([joined.kind, joined.text]).toEqual(["joined", "east/shop/web-1 joined"]);
  });

  it("download with their time and source; single logs as their text", () => {
    expect(entriesText(entries.slice(2, 4))).toBe(
      "2026-11-23T05:00:00.000001Z b b 1 ERROR boom\n2026-11-23T05:00:00.000001Z a (late) a 0\n",
    );
    expect(entriesText(lineEntries({ lines: [{ time: "t", stream: "stdout", text: "line 1" }] }))).toBe("line 1\n");
  });
});

describe("nameGlob", () => {
  it("matches names with the filter in them, its glob characters as themselves", () => {
    expect(nameGlob("web")).toBe("*web*");
    expect(nameGlob("a*b?[c]")).toBe("*a[*]b[?][[]c]*");
  });
});

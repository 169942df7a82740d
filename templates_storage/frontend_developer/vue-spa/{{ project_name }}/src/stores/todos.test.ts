import { createPinia, setActivePinia } from "pinia";
import { beforeEach, describe, expect, it } from "vitest";
import { useTodos } from "./todos";

describe("todos store", () => {
  beforeEach(() => {
    localStorage.clear();
    setActivePinia(createPinia());
  });

  it("adds, toggles and clears", () => {
    const store = useTodos();
    store.add("  write tests  ");
    store.add("");
    store.add("ship");
    expect(store.items.map((t) => t.title)).toEqual(["write tests", "ship"]);
    store.toggle(1);
    expect(store.remaining).toBe(1);
    store.clearDone();
    expect(store.items).toHaveLength(1);
  });

  it("persists to localStorage", async () => {
    const store = useTodos();
    store.add("persist me");
    await Promise.resolve();
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(JSON.parse(localStorage.getItem("{{ storage_key }}") ?? "[]")).toHaveLength(1);
  });
});

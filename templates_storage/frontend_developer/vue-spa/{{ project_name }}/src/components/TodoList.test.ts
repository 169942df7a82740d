import { mount } from "@vue/test-utils";
import { createPinia, setActivePinia } from "pinia";
import { beforeEach, describe, expect, it } from "vitest";
import TodoList from "./TodoList.vue";

describe("TodoList", () => {
  beforeEach(() => {
    localStorage.clear();
    setActivePinia(createPinia());
  });

  it("adds a task and marks it done", async () => {
    const wrapper = mount(TodoList);
    expect(wrapper.text()).toContain("Nothing to do yet.");

    await wrapper.get("#new-todo").setValue("Review PR");
    await wrapper.get("form").trigger("submit");
    expect(wrapper.findAll("li")).toHaveLength(1);
    expect(wrapper.get('[data-testid="remaining"]').text()).toBe("1 remaining");

    await wrapper.get('input[type="checkbox"]').trigger("change");
    expect(wrapper.get('[data-testid="remaining"]').text()).toBe("0 remaining");
  });

  it("disables Add for blank input", async () => {
    const wrapper = mount(TodoList);
    await wrapper.get("#new-todo").setValue("   ");
    expect(wrapper.get('button[type="submit"]').attributes("disabled")).toBeDefined();
  });
});

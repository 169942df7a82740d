import { defineStore } from "pinia";
import { computed, ref, watch } from "vue";

export interface Todo {
  id: number;
  title: string;
  done: boolean;
}

const STORAGE_KEY = "{{ storage_key }}";

function load(): Todo[] {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Todo[]) : [];
  } catch {
    return [];
  }
}

export const useTodos = defineStore("todos", () => {
  const items = ref<Todo[]>(load());
  const remaining = computed(() => items.value.filter((t) => !t.done).length);

  function add(title: string) {
    const trimmed = title.trim();
    if (!trimmed) return;
    const id = Math.max(0, ...items.value.map((t) => t.id)) + 1;
    items.value.push({ id, title: trimmed, done: false });
  }

  function toggle(id: number) {
    const todo = items.value.find((t) => t.id === id);
    if (todo) todo.done = !todo.done;
  }

  function clearDone() {
    items.value = items.value.filter((t) => !t.done);
  }

  watch(items, (value) => localStorage.setItem(STORAGE_KEY, JSON.stringify(value)), { deep: true });

  return { items, remaining, add, toggle, clearDone };
});

import { createRouter, createWebHistory } from "vue-router";
import HomeView from "@/views/HomeView.vue";

export const routes = [
  { path: "/", name: "home", component: HomeView, meta: { title: "Tasks" } },
  {
    path: "/about",
    name: "about",
    // Route-level code splitting: the chunk loads on first visit.
    component: () => import("@/views/AboutView.vue"),
    meta: { title: "About" },
  },
  { path: "/:pathMatch(.*)*", redirect: "/" },
];

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes,
  scrollBehavior: () => ({ top: 0 }),
});

router.afterEach((to) => {
  const title = typeof to.meta.title === "string" ? to.meta.title : "";
  document.title = title ? `${title} · {{ app_title }}` : "{{ app_title }}";
});

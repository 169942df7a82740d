import { createPinia } from "pinia";
import { createApp } from "vue";
import App from "./App.vue";
import { router } from "./router";
import "./style.css";

const app = createApp(App);
app.use(createPinia());
app.use(router);
app.config.errorHandler = (err, _instance, info) => {
  // Send to your error tracker here.
  console.error(`[vue] ${info}`, err);
};
app.mount("#app");

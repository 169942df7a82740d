import { Counter } from "./components/Counter";
import { HealthBadge } from "./components/HealthBadge";

export default function App() {
  return (
    <>
      <header className="app-header">
        <h1>{{ app_title }}</h1>
        <HealthBadge />
      </header>
      <main className="app-main">
        <p>
          Edit <code>src/App.tsx</code> and save to reload. Tests live next to the code as{" "}
          <code>*.test.tsx</code>.
        </p>
        <Counter />
      </main>
    </>
  );
}

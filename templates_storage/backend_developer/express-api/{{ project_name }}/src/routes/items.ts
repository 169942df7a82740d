import { randomUUID } from "node:crypto";
import { Router } from "express";
import { z } from "zod";
import { HttpError } from "../middleware/errors.js";

export const NewItem = z.object({
  name: z.string().trim().min(1).max(200),
  priceCents: z.number().int().nonnegative(),
  tags: z.array(z.string().min(1)).max(20).default([]),
});
export type Item = z.infer<typeof NewItem> & { id: string; createdAt: string };

const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});

/** Example resource backed by a Map; swap in a repository for your datastore. */
export function itemsRouter(store = new Map<string, Item>()): Router {
  const router = Router();

  router.get("/", (req, res) => {
    const { limit, offset } = ListQuery.parse(req.query);
    const all = [...store.values()];
    res.json({ items: all.slice(offset, offset + limit), total: all.length, limit, offset });
  });

  router.post("/", (req, res) => {
    const input = NewItem.parse(req.body);
    const item: Item = { ...input, id: randomUUID(), createdAt: new Date().toISOString() };
    store.set(item.id, item);
    res.status(201).location(`${req.baseUrl}/${item.id}`).json(item);
  });

  router.get("/:id", (req, res) => {
    const item = store.get(req.params.id);
    if (!item) throw new HttpError(404, "item not found");
    res.json(item);
  });

  router.delete("/:id", (req, res) => {
    if (!store.delete(req.params.id)) throw new HttpError(404, "item not found");
    res.status(204).end();
  });

  return router;
}

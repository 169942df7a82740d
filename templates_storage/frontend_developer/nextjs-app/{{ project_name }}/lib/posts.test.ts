import { describe, expect, it } from "vitest";
import { formatDate, getPost, listPosts } from "./posts";

describe("posts", () => {
  it("lists newest first", async () => {
    const posts = await listPosts();
    expect(posts.map((p) => p.slug)).toEqual(["server-components", "hello-world"]);
  });

  it("finds a post by slug", async () => {
    expect((await getPost("hello-world"))?.title).toBe("Hello, world");
    expect(await getPost("missing")).toBeUndefined();
  });

  it("formats dates in UTC", () => {
    expect(formatDate("2025-01-15")).toBe("15 January 2025");
  });
});

export interface Post {
  slug: string;
  title: string;
  summary: string;
  publishedAt: string;
  body: string;
}

// Replace with your CMS, database or MDX files. Functions are async so callers do not change.
const posts: Post[] = [
  {
    slug: "hello-world",
    title: "Hello, world",
    summary: "What this site is about.",
    publishedAt: "2025-01-15",
    body: "This page is rendered on the server and statically generated at build time.",
  },
  {
    slug: "server-components",
    title: "Server components by default",
    summary: "Why most of this app ships no client JavaScript.",
    publishedAt: "2025-02-03",
    body: "Components run on the server unless a file starts with the 'use client' directive.",
  },
];

export async function listPosts(): Promise<Post[]> {
  return [...posts].sort((a, b) => b.publishedAt.localeCompare(a.publishedAt));
}

export async function getPost(slug: string): Promise<Post | undefined> {
  return posts.find((post) => post.slug === slug);
}

export function formatDate(iso: string, locale = "en-GB"): string {
  return new Intl.DateTimeFormat(locale, { dateStyle: "long", timeZone: "UTC" }).format(new Date(iso));
}

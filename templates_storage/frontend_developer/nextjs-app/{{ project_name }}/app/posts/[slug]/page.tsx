import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { formatDate, getPost, listPosts } from "@/lib/posts";

type Props = { params: Promise<{ slug: string }> };

// Pre-render every known post at build time; unknown slugs render on demand (and 404).
export async function generateStaticParams() {
  return (await listPosts()).map((post) => ({ slug: post.slug }));
}

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const post = await getPost((await params).slug);
  return post ? { title: post.title, description: post.summary } : {};
}

export default async function PostPage({ params }: Props) {
  const post = await getPost((await params).slug);
  if (!post) notFound();
  return (
    <article>
      <h1>{post.title}</h1>
      <time dateTime={post.publishedAt}>{formatDate(post.publishedAt)}</time>
      <p>{post.body}</p>
    </article>
  );
}

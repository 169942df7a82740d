import Link from "next/link";
import { formatDate, listPosts } from "@/lib/posts";

export default async function HomePage() {
  const posts = await listPosts();
  return (
    <>
      <h1>Latest posts</h1>
      <ul className="post-list">
        {posts.map((post) => (
          <li key={post.slug}>
            <Link href={`/posts/${post.slug}`}>{post.title}</Link>
            <p>{post.summary}</p>
            <time dateTime={post.publishedAt}>{formatDate(post.publishedAt)}</time>
          </li>
        ))}
      </ul>
    </>
  );
}

import type { Metadata, Viewport } from "next";
import Link from "next/link";
import "./globals.css";

export const metadata: Metadata = {
  metadataBase: new URL("{{ site_url }}"),
  title: { default: "{{ app_title }}", template: "%s · {{ app_title }}" },
  description: "Built with Next.js",
  openGraph: { siteName: "{{ app_title }}", type: "website" },
};

export const viewport: Viewport = {
  colorScheme: "light dark",
};

export default function RootLayout({ children }: Readonly<{ children: React.ReactNode }>) {
  return (
    <html lang="en">
      <body>
        <header className="site-header">
          <Link href="/" className="brand">
            {{ app_title }}
          </Link>
        </header>
        <main className="site-main">{children}</main>
      </body>
    </html>
  );
}

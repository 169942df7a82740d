//! README Markdown to HTML for the console. The README comes from whoever wrote the template,
//! so raw HTML in it is shown as text (never passed through), and links and images keep only
//! safe destinations (http, https, mailto, relative, fragment); anything else (`javascript:`,
//! `data:`, `vbscript:` …) becomes `#`. Text is escaped by pulldown-cmark itself.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

/// Longest README rendered; a longer one is cut (with a note) to keep pages small.
pub const MAX_README_BYTES: usize = 256 * 1024;

fn safe_url(url: &str) -> bool {
    let lower: String = url
        .trim()
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    match lower.split_once(':') {
        // A colon before any '/', '?' or '#' is a scheme.
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

fn clean(url: CowStr<'_>) -> CowStr<'_> {
    if safe_url(&url) { url } else { "#".into() }
}

/// Renders Markdown to HTML safe to embed in a page.
pub fn render(source: &str) -> String {
    let (source, cut) = if source.len() > MAX_README_BYTES {
        let mut end = MAX_README_BYTES;
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        (&source[..end], true)
    } else {
        (source, false)
    };
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES;
    let events = Parser::new_ext(source, options).map(|event| match event {
        // Raw HTML is user content: shown, not interpreted.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: clean(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            // Only relative or http(s) images; the page's CSP limits them to this origin anyway.
            dest_url: clean(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(source.len() * 3 / 2);
    html::push_html(&mut out, events);
    if cut {
        out.push_str("<p><em>README cut at 256 KiB; open the file for the rest.</em></p>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_text_and_scripts_never_run() {
        let html = render("# Hi\n\n<script>alert(1)</script>\n\nok <img src=x onerror=alert(1)>");
        assert!(html.contains("<h1>Hi</h1>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
    }

    #[test]
    fn dangerous_link_schemes_are_dropped() {
        let html = render(
            "[a](javascript:alert(1)) [b](JaVa\tScript:alert(1)) [c](https://x.example/) [d](docs/x.md) ![i](data:text/html;base64,xx)",
        );
        assert!(!html.to_lowercase().contains("javascript"), "{html}");
        assert!(!html.contains("data:"), "{html}");
        assert!(html.contains("href=\"https://x.example/\""), "{html}");
        assert!(html.contains("href=\"docs/x.md\""), "{html}");
    }

    #[test]
    fn long_readmes_are_cut() {
        let long = "a".repeat(MAX_README_BYTES + 10);
        assert!(render(&long).contains("README cut"));
    }
}

//! A small, forgiving HTML tokenizer and tree for locator healing (no HTML parser is in the
//! dependency tree). It reads start and end tags with quoted or bare attributes, void and
//! self-closing elements, comments, doctype, raw-text elements (`script`, `style`,
//! `textarea`, `title`) and the common character references; an end tag closes up to its open
//! element and is ignored when none is open. Never panics, whatever the input.
//! Also: simple CSS selector matching (compound selectors joined by descendant or child
//! combinators) and XPath generation for the selectors locator healing emits.

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Lower-case tag name; `#document` for the root.
    pub tag: String,
    /// Attributes in source order, names lower-cased.
    pub attrs: Vec<(String, String)>,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    /// Text directly inside the element (whitespace collapsed).
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Dom {
    pub nodes: Vec<Node>,
}

const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];
const RAW: [&str; 4] = ["script", "style", "textarea", "title"];

fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.bytes().take(12).position(|c| c == b';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            }?;
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Dom {
    pub fn parse(html: &str) -> Dom {
        let mut nodes = vec![Node {
            tag: "#document".into(),
            attrs: Vec::new(),
            parent: None,
            children: Vec::new(),
            text: String::new(),
        }];
        let mut stack: Vec<usize> = vec![0];
        let b = html.as_bytes();
        let mut i = 0;
        let push_text = |nodes: &mut Vec<Node>, at: usize, raw: &str| {
            let t = collapse(&decode(raw));
            if !t.is_empty() {
                let n = &mut nodes[at];
                if !n.text.is_empty() {
                    n.text.push(' ');
                }
                n.text.push_str(&t);
            }
        };
        while i < b.len() {
            let Some(lt) = html[i..].find('<').map(|p| p + i) else {
                push_text(&mut nodes, *stack.last().unwrap_or(&0), &html[i..]);
                break;
            };
            if lt > i {
                push_text(&mut nodes, *stack.last().unwrap_or(&0), &html[i..lt]);
            }
            i = lt;
            let rest = &html[i..];
            if rest.starts_with("<!--") {
                i = rest.find("-->").map_or(b.len(), |e| i + e + 3);
                continue;
            }
            if rest.starts_with("<!") || rest.starts_with("<?") {
                i = rest.find('>').map_or(b.len(), |e| i + e + 1);
                continue;
            }
            if let Some(close) = rest.strip_prefix("</") {
                let end = close.find('>').map_or(close.len(), |e| e);
                let name = close[..end].trim().to_ascii_lowercase();
                if let Some(pos) = stack.iter().rposition(|n| nodes[*n].tag == name)
                    && pos > 0
                {
                    stack.truncate(pos);
                }
                i += 2 + end + 1;
                continue;
            }
            // A start tag needs a letter after `<`; otherwise `<` is text.
            if !rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
                push_text(&mut nodes, *stack.last().unwrap_or(&0), "<");
                i += 1;
                continue;
            }
            let (tag, attrs, self_closing, len) = start_tag(rest);
            i += len;
            // Implicit ends of the common optional-end-tag elements.
            if let Some(&top) = stack.last() {
                let open = nodes[top].tag.as_str();
                let closes = match tag.as_str() {
                    "li" => open == "li",
                    "option" => open == "option",
                    "tr" => open == "tr",
                    "td" | "th" => open == "td" || open == "th",
                    "p" | "div" | "ul" | "ol" | "table" | "form" | "h1" | "h2" | "h3" => {
                        open == "p"
                    }
                    _ => false,
                };
                if closes && stack.len() > 1 {
                    stack.pop();
                }
            }
            let parent = *stack.last().unwrap_or(&0);
            let id = nodes.len();
            nodes.push(Node {
                tag: tag.clone(),
                attrs,
                parent: Some(parent),
                children: Vec::new(),
                text: String::new(),
            });
            nodes[parent].children.push(id);
            if RAW.contains(&tag.as_str()) && !self_closing {
                let close = format!("</{tag}");
                let body_end = html[i..]
                    .to_ascii_lowercase()
                    .find(&close)
                    .map_or(b.len(), |e| i + e);
                if tag == "textarea" || tag == "title" {
                    push_text(&mut nodes, id, &html[i..body_end]);
                }
                i = html[body_end..]
                    .find('>')
                    .map_or(b.len(), |e| body_end + e + 1);
                continue;
            }
            if !self_closing && !VOID.contains(&tag.as_str()) {
                stack.push(id);
            }
        }
        Dom { nodes }
    }

    pub fn attr(&self, n: usize, name: &str) -> Option<&str> {
        self.nodes[n]
            .attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn classes(&self, n: usize) -> Vec<&str> {
        self.attr(n, "class")
            .map(|c| c.split_whitespace().collect())
            .unwrap_or_default()
    }

    /// Element nodes (the document root excluded), in document order.
    pub fn elements(&self) -> impl Iterator<Item = usize> + '_ {
        (1..self.nodes.len()).filter(|n| !self.nodes[*n].tag.starts_with('#'))
    }

    /// Root → node, the document excluded.
    pub fn path(&self, n: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut cur = Some(n);
        while let Some(c) = cur {
            if c == 0 {
                break;
            }
            out.push(c);
            cur = self.nodes[c].parent;
        }
        out.reverse();
        out
    }

    /// All text inside the element, whitespace collapsed, capped at `max` chars.
    pub fn text_content(&self, n: usize, max: usize) -> String {
        let mut out = String::new();
        let mut todo = vec![n];
        while let Some(c) = todo.pop() {
            let node = &self.nodes[c];
            if !node.text.is_empty() {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&node.text);
            }
            if out.len() > max {
                break;
            }
            todo.extend(node.children.iter().rev());
        }
        out.chars().take(max).collect()
    }

    /// Hidden (`hidden`, `aria-hidden`, `display:none`, `visibility:hidden`,
    /// `type=hidden`, here or on an ancestor) or disabled (here or by a disabled fieldset).
    pub fn is_hidden_or_disabled(&self, n: usize) -> bool {
        if self.attr(n, "disabled").is_some()
            || self
                .attr(n, "type")
                .is_some_and(|t| t.eq_ignore_ascii_case("hidden"))
        {
            return true;
        }
        self.path(n).into_iter().any(|a| {
            let style: String = self
                .attr(a, "style")
                .unwrap_or_default()
                .to_ascii_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            self.attr(a, "hidden").is_some()
                || self.attr(a, "aria-hidden") == Some("true")
                || style.contains("display:none")
                || style.contains("visibility:hidden")
                || (self.nodes[a].tag == "fieldset" && self.attr(a, "disabled").is_some())
        })
    }

    /// `/html/body/div[2]/input[1]`-style absolute XPath (index among same-tag siblings).
    pub fn xpath(&self, n: usize) -> String {
        let mut out = String::new();
        for c in self.path(n) {
            let node = &self.nodes[c];
            let siblings = node
                .parent
                .map(|p| self.nodes[p].children.as_slice())
                .unwrap_or_default();
            let same: Vec<usize> = siblings
                .iter()
                .copied()
                .filter(|s| self.nodes[*s].tag == node.tag)
                .collect();
            out.push('/');
            out.push_str(&node.tag);
            if same.len() > 1 {
                let idx = same.iter().position(|s| *s == c).unwrap_or(0) + 1;
                out.push_str(&format!("[{idx}]"));
            }
        }
        out
    }

    /// Nodes matching a CSS selector; `None` when the selector uses syntax this matcher does
    /// not read (pseudo-classes, sibling combinators, selector lists).
    pub fn select(&self, selector: &str) -> Option<Vec<usize>> {
        let sel = Selector::parse(selector)?;
        Some(self.elements().filter(|n| self.matches(*n, &sel)).collect())
    }

    fn matches(&self, n: usize, sel: &Selector) -> bool {
        let Some((last, rest)) = sel.parts.split_last() else {
            return false;
        };
        if !self.matches_compound(n, &last.1) {
            return false;
        }
        self.matches_up(n, rest, last.0)
    }

    /// Whether the ancestors of `n` satisfy `rest` joined to `n` by `combinator`.
    fn matches_up(
        &self,
        n: usize,
        rest: &[(Combinator, Compound)],
        combinator: Combinator,
    ) -> bool {
        let Some((last, before)) = rest.split_last() else {
            return true;
        };
        let mut cur = self.nodes[n].parent;
        while let Some(p) = cur.filter(|p| *p != 0) {
            if self.matches_compound(p, &last.1) && self.matches_up(p, before, last.0) {
                return true;
            }
            if combinator == Combinator::Child {
                return false;
            }
            cur = self.nodes[p].parent;
        }
        false
    }

    fn matches_compound(&self, n: usize, c: &Compound) -> bool {
        if c.tag.as_ref().is_some_and(|t| *t != self.nodes[n].tag) {
            return false;
        }
        if c.id
            .as_ref()
            .is_some_and(|id| self.attr(n, "id") != Some(id))
        {
            return false;
        }
        let classes = self.classes(n);
        if !c.classes.iter().all(|k| classes.contains(&k.as_str())) {
            return false;
        }
        c.attrs.iter().all(|(k, v)| match (self.attr(n, k), v) {
            (Some(_), None) => true,
            (Some(a), Some(v)) => a == v,
            (None, _) => false,
        })
    }
}

/// `(name, attrs, self_closing, bytes consumed)` of the start tag at the head of `s` (`<…>`).
fn start_tag(s: &str) -> (String, Vec<(String, String)>, bool, usize) {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
        i += 1;
    }
    let tag = s[1..i].to_ascii_lowercase();
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut self_closing = false;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return (tag, attrs, self_closing, b.len());
        }
        match b[i] {
            b'>' => return (tag, attrs, self_closing, i + 1),
            b'/' => {
                self_closing = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        self_closing = false;
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        // A stray quote or `=` as a name: skip a byte so the loop always advances.
        if i == start {
            i += 1;
            continue;
        }
        let name = s[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let vstart = i + 1;
                let vend = s[vstart..]
                    .bytes()
                    .position(|c| c == q)
                    .map_or(b.len(), |p| vstart + p);
                value = decode(&s[vstart..vend]);
                i = (vend + 1).min(b.len());
            } else {
                let vstart = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                value = decode(&s[vstart..i]);
            }
        }
        if !attrs.iter().any(|(k, _)| *k == name) {
            attrs.push((name, value));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Combinator {
    Descendant,
    Child,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Compound {
    tag: Option<String>,
    id: Option<String>,
    classes: Vec<String>,
    attrs: Vec<(String, Option<String>)>,
}

#[derive(Debug, Clone, PartialEq)]
struct Selector {
    /// Compounds left to right, each with the combinator joining it to the previous one.
    parts: Vec<(Combinator, Compound)>,
}

fn ident_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(s.len())
}

impl Selector {
    fn parse(raw: &str) -> Option<Selector> {
        let s = raw.trim();
        if s.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        let mut rest = s;
        let mut combinator = Combinator::Descendant;
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            if let Some(r) = rest.strip_prefix('>') {
                combinator = Combinator::Child;
                rest = r;
                continue;
            }
            let mut c = Compound::default();
            let mut any = false;
            if rest.starts_with('*') {
                rest = &rest[1..];
                any = true;
            } else {
                let n = ident_len(rest);
                if n > 0 {
                    c.tag = Some(rest[..n].to_ascii_lowercase());
                    rest = &rest[n..];
                    any = true;
                }
            }
            loop {
                if let Some(r) = rest.strip_prefix('#') {
                    let n = ident_len(r);
                    if n == 0 {
                        return None;
                    }
                    c.id = Some(r[..n].to_string());
                    rest = &r[n..];
                } else if let Some(r) = rest.strip_prefix('.') {
                    let n = ident_len(r);
                    if n == 0 {
                        return None;
                    }
                    c.classes.push(r[..n].to_string());
                    rest = &r[n..];
                } else if let Some(r) = rest.strip_prefix('[') {
                    let end = r.find(']')?;
                    let inner = &r[..end];
                    rest = &r[end + 1..];
                    match inner.split_once('=') {
                        None => c.attrs.push((inner.trim().to_ascii_lowercase(), None)),
                        Some((k, v)) => {
                            if k.ends_with(['~', '|', '^', '$', '*']) {
                                return None;
                            }
                            let v = v.trim();
                            let v = v
                                .strip_prefix('"')
                                .and_then(|v| v.strip_suffix('"'))
                                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                                .unwrap_or(v);
                            c.attrs
                                .push((k.trim().to_ascii_lowercase(), Some(v.to_string())));
                        }
                    }
                } else {
                    break;
                }
                any = true;
            }
            if !any {
                return None;
            }
            if !rest.is_empty() && !rest.starts_with(|ch: char| ch.is_whitespace() || ch == '>') {
                return None;
            }
            parts.push((combinator, c));
            combinator = Combinator::Descendant;
        }
        (!parts.is_empty()).then_some(Selector { parts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><head><title>Shop &amp; co</title><script>if (a < b) {}</script></head>
<body><!-- nav --><form id="login" class="card">
<label for="email">E-mail</label><input id="email" name="email" type="email">
<div class="row"><button class="btn primary" data-testid="submit">Sign in</button></div>
<input type="hidden" name="csrf" value="x"><p>one<p>two
</form><ul><li>a<li>b</ul></body></html>"#;

    #[test]
    fn builds_a_tree() {
        let d = Dom::parse(PAGE);
        let button = d.select("button").unwrap()[0];
        assert_eq!(d.text_content(button, 100), "Sign in");
        assert_eq!(d.xpath(button), "/html/body/form/div/button");
        assert_eq!(d.select("li").unwrap().len(), 2);
        assert_eq!(d.select("p").unwrap().len(), 2);
        let title = d.select("title").unwrap()[0];
        assert_eq!(d.nodes[title].text, "Shop & co");
        assert_eq!(d.select("script").unwrap().len(), 1);
        assert!(d.is_hidden_or_disabled(d.select("[name=csrf]").unwrap()[0]));
        assert!(!d.is_hidden_or_disabled(button));
    }

    #[test]
    fn matches_selectors() {
        let d = Dom::parse(PAGE);
        for (sel, n) in [
            ("#email", 1),
            ("form#login > div > button.btn.primary", 1),
            ("form > button", 0),
            ("form button", 1),
            ("[data-testid=\"submit\"]", 1),
            ("input[name='email']", 1),
            ("input", 2),
            (".nope", 0),
        ] {
            assert_eq!(d.select(sel).map(|v| v.len()), Some(n), "{sel}");
        }
        assert_eq!(d.select("a:hover"), None);
        assert_eq!(d.select("a + b"), None);
    }

    #[test]
    fn survives_broken_markup() {
        for junk in [
            "<",
            "<<a",
            "<a b='x",
            "</x></y>",
            "<a =\"\" '>t",
            "&#xZZ; &amp",
            "<div",
        ] {
            let _ = Dom::parse(junk);
        }
        assert_eq!(decode("a&lt;b&#65;&#x42;&zz;"), "a<bAB&zz;");
    }
}

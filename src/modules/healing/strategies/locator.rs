//! Locator healing, Healenium-style: the element as it was at the last pass (its root→node
//! path in the last passing page when stored) is compared with every visible, enabled element
//! of the failing page — longest common subsequence of the tag paths (nodes equal on tag + id)
//! plus tag, id, text (label text for form controls), class and attribute similarity:
//! `score = (100·LCS/height + 100·tag + 50·id + 30·text + 40·classes + 30·attrs) / 350`.
//! It heals only above a score floor, with a margin over the runner-up, and only to a
//! candidate that keeps an identifying trait of the old element (id, test id, name, label or
//! text): a removed element is not "healed" onto a look-alike. The emitted selector is the most
//! robust unique one: id > data-testid > name > unique CSS > XPath.

use std::collections::BTreeSet;

use super::html::Dom;
use super::*;

const TEST_ID_ATTRS: [&str; 5] = [
    "data-testid",
    "data-test-id",
    "data-test",
    "data-cy",
    "data-qa",
];
const ANCHOR_ATTRS: [&str; 9] = [
    "id",
    "name",
    "data-testid",
    "data-test-id",
    "data-test",
    "data-cy",
    "data-qa",
    "aria-label",
    "placeholder",
];

/// Levenshtein similarity in 0..=1 (1 for two empty strings), on at most 200 chars.
pub(super) fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().take(200).collect();
    let b: Vec<char> = b.chars().take(200).collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    1.0 - prev[b.len()] as f64 / longest as f64
}

/// What is compared of one element.
#[derive(Debug, Clone)]
struct Features {
    /// (tag, id) root → node.
    path: Vec<(String, String)>,
    tag: String,
    id: String,
    text: String,
    classes: BTreeSet<String>,
    /// `k=v` of the other attributes, sorted.
    attrs: String,
    anchors: Vec<(&'static str, String)>,
}

fn features(dom: &Dom, n: usize) -> Features {
    let node = &dom.nodes[n];
    let path = dom
        .path(n)
        .into_iter()
        .map(|p| {
            (
                dom.nodes[p].tag.clone(),
                dom.attr(p, "id").unwrap_or_default().to_string(),
            )
        })
        .collect();
    let id = dom.attr(n, "id").unwrap_or_default().to_string();
    let mut text = dom.text_content(n, 200);
    if matches!(node.tag.as_str(), "input" | "select" | "textarea") {
        // Form controls are known by their label.
        let by_for = (!id.is_empty())
            .then(|| {
                dom.elements().find(|l| {
                    dom.nodes[*l].tag == "label" && dom.attr(*l, "for") == Some(id.as_str())
                })
            })
            .flatten();
        let wrapping = dom
            .path(n)
            .into_iter()
            .rev()
            .find(|a| dom.nodes[*a].tag == "label");
        if let Some(label) = by_for.or(wrapping) {
            text = dom.text_content(label, 200);
        }
    }
    let classes = dom.classes(n).into_iter().map(str::to_string).collect();
    let mut attrs: Vec<String> = node
        .attrs
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "id" | "class" | "style"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    attrs.sort();
    let mut anchors: Vec<(&'static str, String)> = ANCHOR_ATTRS
        .iter()
        .filter_map(|k| {
            dom.attr(n, k)
                .filter(|v| !v.is_empty())
                .map(|v| (*k, v.to_string()))
        })
        .collect();
    if !text.is_empty() {
        anchors.push(("text", text.clone()));
    }
    Features {
        path,
        tag: node.tag.clone(),
        id,
        text,
        classes,
        attrs: attrs.join(" "),
        anchors,
    }
}

fn lcs<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    for x in a {
        let mut cur = vec![0usize; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        prev = cur;
    }
    prev[b.len()]
}

fn score(old: &Features, new: &Features) -> f64 {
    let height = old.path.len().max(1) as f64;
    let path = lcs(&old.path, &new.path) as f64 / height;
    let tag = if old.tag == new.tag { 1.0 } else { 0.0 };
    let classes = if old.classes.is_empty() && new.classes.is_empty() {
        1.0
    } else {
        old.classes.intersection(&new.classes).count() as f64
            / old.classes.union(&new.classes).count() as f64
    };
    (100.0 * path
        + 100.0 * tag
        + 50.0 * similarity(&old.id, &new.id)
        + 30.0 * similarity(&old.text, &new.text)
        + 40.0 * classes
        + 30.0 * similarity(&old.attrs, &new.attrs))
        / 350.0
}

/// The identifying trait the candidate keeps, if any.
fn anchor(old: &Features, new: &Features) -> Option<String> {
    old.anchors.iter().find_map(|(k, v)| {
        new.anchors
            .iter()
            .find(|(nk, nv)| nk == k && similarity(v, nv) >= 0.6)
            .map(|(_, nv)| format!("{k} `{v}` ~ `{nv}`"))
    })
}

fn css_safe(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_alphabetic())
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn unique(dom: &Dom, selector: &str, n: usize) -> bool {
    dom.select(selector).is_some_and(|m| m == [n])
}

/// The most robust selector that finds exactly `n`: id > test id > name > CSS > XPath.
fn robust_selector(dom: &Dom, n: usize) -> String {
    let tag = dom.nodes[n].tag.clone();
    let quoted = |v: &str| !v.contains(['"', '\\', ']']);
    if let Some(id) = dom.attr(n, "id").filter(|v| !v.is_empty()) {
        let s = if css_safe(id) {
            format!("#{id}")
        } else {
            format!("[id=\"{id}\"]")
        };
        if quoted(id) && unique(dom, &s, n) {
            return s;
        }
    }
    for k in TEST_ID_ATTRS {
        if let Some(v) = dom.attr(n, k).filter(|v| !v.is_empty() && quoted(v)) {
            let s = format!("[{k}=\"{v}\"]");
            if unique(dom, &s, n) {
                return s;
            }
        }
    }
    if let Some(v) = dom.attr(n, "name").filter(|v| !v.is_empty() && quoted(v)) {
        let s = format!("{tag}[name=\"{v}\"]");
        if unique(dom, &s, n) {
            return s;
        }
    }
    let classes: String = dom
        .classes(n)
        .into_iter()
        .filter(|c| css_safe(c))
        .map(|c| format!(".{c}"))
        .collect();
    let mut css = vec![format!("{tag}{classes}")];
    if let Some(t) = dom.attr(n, "type").filter(|t| css_safe(t)) {
        css.push(format!("{tag}{classes}[type=\"{t}\"]"));
    }
    if let Some(anc) = dom
        .path(n)
        .into_iter()
        .rev()
        .skip(1)
        .find(|a| dom.attr(*a, "id").is_some_and(css_safe))
    {
        let id = dom.attr(anc, "id").unwrap_or_default();
        css.push(format!("#{id} {tag}{classes}"));
    }
    for s in css {
        if unique(dom, &s, n) {
            return s;
        }
    }
    dom.xpath(n)
}

/// The element as stored at the last pass, located in the last passing page when there is one.
fn old_element(li: &LocatorInputs) -> Option<(Dom, usize)> {
    let alone = Dom::parse(&li.last_pass_element_html);
    let el = alone.elements().next()?;
    if let Some(page) = &li.last_pass_page_html {
        let dom = Dom::parse(page);
        let by_selector = dom.select(&li.selector).filter(|m| m.len() == 1);
        let found = by_selector.map(|m| m[0]).or_else(|| {
            dom.elements().find(|n| {
                dom.nodes[*n].tag == alone.nodes[el].tag
                    && dom.nodes[*n].attrs == alone.nodes[el].attrs
            })
        });
        if let Some(n) = found {
            return Some((dom, n));
        }
    }
    Some((alone, el))
}

/// Quoted occurrences of `selector` in `text` replaced by `healed`.
fn replace_quoted(text: &str, selector: &str, healed: &str) -> (String, usize) {
    let mut out = text.to_string();
    let mut count = 0;
    for q in ['"', '\'', '`'] {
        if healed.contains(q) {
            continue;
        }
        let from = format!("{q}{selector}{q}");
        count += out.matches(&from).count();
        out = out.replace(&from, &format!("{q}{healed}{q}"));
    }
    (out, count)
}

pub(super) fn propose(inputs: &Inputs, tuning: &Tuning) -> Option<Proposal> {
    if inputs.category() != Some(Category::Locator) && inputs.locator.is_none() {
        return None;
    }
    let name = StrategyName::Locator;
    let abstain = |reason: String, ev: Vec<String>| Some(Proposal::abstain(name, reason, ev));
    let Some(li) = &inputs.locator else {
        return abstain(
            "no element stored at the last pass and no failing page: nothing to compare".into(),
            vec![],
        );
    };
    let Some((old_dom, old_n)) = old_element(li) else {
        return abstain(
            "the element stored at the last pass holds no element".into(),
            vec![],
        );
    };
    let old = features(&old_dom, old_n);
    let page = Dom::parse(&li.page_html);
    let mut evidence = vec![format!("selector `{}`", li.selector)];
    if let Some(m) = page.select(&li.selector) {
        let visible = m
            .iter()
            .filter(|n| !page.is_hidden_or_disabled(**n))
            .count();
        if visible > 0 {
            return abstain(
                format!(
                    "the selector still finds {visible} visible element(s) in the failing page: the failure is not a changed locator"
                ),
                evidence,
            );
        }
    }
    // Only candidates that keep an identifying trait of the old element may be healed to: a
    // removed element is not "healed" onto a look-alike.
    let mut ranked: Vec<(f64, usize, String)> = page
        .elements()
        .filter(|n| {
            !matches!(
                page.nodes[*n].tag.as_str(),
                "html" | "head" | "body" | "script" | "style" | "meta" | "link" | "title"
            )
        })
        .filter(|n| !page.is_hidden_or_disabled(*n))
        .filter_map(|n| {
            let f = features(&page, n);
            anchor(&old, &f).map(|kept| (score(&old, &f), n, kept))
        })
        .collect();
    // Highest score first; document order breaks ties.
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let Some((top, best, kept)) = ranked.first().cloned() else {
        return abstain(
            "no visible, enabled element keeps an identifying trait of the old one (id, test id, name, label, text): it appears to be gone".into(),
            evidence,
        );
    };
    let runner_up = ranked.get(1).map_or(0.0, |r| r.0);
    evidence.push(format!(
        "{} candidate(s); best {} scores {top:.2}, runner-up {runner_up:.2}",
        ranked.len(),
        page.xpath(best)
    ));
    if top < tuning.locator_score_floor {
        return abstain(
            format!(
                "the best candidate scores {top:.2}, below the floor {:.2}",
                tuning.locator_score_floor
            ),
            evidence,
        );
    }
    if top - runner_up < tuning.locator_margin {
        return abstain(
            format!(
                "ambiguous: the best candidate leads the runner-up by {:.2}, less than the margin {:.2}",
                top - runner_up,
                tuning.locator_margin
            ),
            evidence,
        );
    }
    evidence.push(format!("keeps {kept}"));
    let healed = robust_selector(&page, best);
    evidence.push(format!("healed selector `{healed}`"));
    let confidence = top.min(0.95);
    if let Some(test) = inputs.test_source() {
        let (new_text, count) = replace_quoted(&test.text, &li.selector, &healed);
        if count > 0 {
            evidence.push(format!("{count} occurrence(s) in {}", test.path));
            return Some(Proposal::patch(
                name,
                file_patch(test, &new_text),
                confidence,
                evidence,
                Risk::None,
            ));
        }
    }
    Some(Proposal::config(
        name,
        Action::ConfigChange,
        serde_json::json!({ "locator": { "from": li.selector, "to": healed } }),
        confidence,
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    const BEFORE: &str = r#"<html><body><form id="checkout">
<label for="email">E-mail</label><input id="email" name="email">
<div class="actions"><button id="pay-now" class="btn primary">Pay now</button>
<button id="cancel" class="btn">Cancel</button></div></form></body></html>"#;

    fn inputs(selector: &str, element: &str, after: &str) -> Inputs {
        let mut i = failing(
            &format!(
                "NoSuchElementException: no such element: Unable to locate element: {{\"method\":\"css selector\",\"selector\":\"{selector}\"}}"
            ),
            "",
        );
        i.locator = Some(LocatorInputs {
            selector: selector.into(),
            last_pass_element_html: element.into(),
            last_pass_page_html: Some(BEFORE.into()),
            page_html: after.into(),
        });
        i
    }

    fn heal(i: &Inputs) -> Proposal {
        propose(i, &Tuning::default()).expect("applies")
    }

    #[test]
    fn similarity_is_normalised() {
        assert_eq!(similarity("", ""), 1.0);
        assert_eq!(similarity("abc", "abc"), 1.0);
        assert_eq!(similarity("abc", ""), 0.0);
        assert!((similarity("pay-now", "pay-button") - 0.5).abs() < 0.01);
    }

    #[test]
    fn heals_a_renamed_id_to_the_new_id() {
        let after = BEFORE.replace("id=\"pay-now\"", "id=\"pay-button\"");
        let mut i = inputs(
            "#pay-now",
            r#"<button id="pay-now" class="btn primary">Pay now</button>"#,
            &after,
        );
        i.test_file = Some("tests/checkout.spec.js".into());
        i.files = vec![file(
            "tests/checkout.spec.js",
            "await page.click('#pay-now');\n",
        )];
        let p = heal(&i);
        assert_eq!(p.action, Action::Patch, "{p:?}");
        assert!(
            p.patch
                .unwrap()
                .diff
                .contains("+await page.click('#pay-button');"),
        );
    }

    #[test]
    fn heals_a_moved_node_to_its_test_id() {
        let before_el = r#"<button class="btn primary" data-testid="pay">Pay now</button>"#;
        let after = r#"<html><body><form id="checkout"><label for="email">E-mail</label><input id="email" name="email">
<section><button class="btn primary" data-testid="pay">Pay now</button></section>
<div class="actions"><button id="cancel" class="btn">Cancel</button></div></form></body></html>"#;
        let mut i = inputs("div.actions > button.primary", before_el, after);
        i.locator.as_mut().unwrap().last_pass_page_html = None;
        let p = heal(&i);
        assert_eq!(p.action, Action::ConfigChange, "{p:?}");
        assert_eq!(p.config.unwrap()["locator"]["to"], "[data-testid=\"pay\"]");
    }

    #[test]
    fn never_heals_to_a_hidden_or_disabled_element() {
        for attr in ["hidden", "disabled", "style=\"display: none\""] {
            let after = BEFORE.replace("id=\"pay-now\"", &format!("id=\"pay-button\" {attr}"));
            let p = heal(&inputs(
                "#pay-now",
                r#"<button id="pay-now" class="btn primary">Pay now</button>"#,
                &after,
            ));
            assert!(
                p.action == Action::Abstain || !p.evidence.iter().any(|e| e.contains("pay-button")),
                "{attr}: {p:?}"
            );
        }
    }

    #[test]
    fn abstains_on_twins_and_on_a_removed_element() {
        // Two identical inputs replace the one with an id: no margin.
        let after = r#"<html><body><form id="checkout"><input name="email"><input name="email">
<div class="actions"><button id="pay-now" class="btn primary">Pay now</button></div></form></body></html>"#;
        let p = heal(&inputs(
            "#email",
            r#"<input id="email" name="email">"#,
            after,
        ));
        assert_eq!(p.action, Action::Abstain, "{p:?}");
        // The cancel button is gone; the pay button looks alike but is not it.
        let after = BEFORE.replace(r#"<button id="cancel" class="btn">Cancel</button>"#, "");
        let p = heal(&inputs(
            "#cancel",
            r#"<button id="cancel" class="btn">Cancel</button>"#,
            &after,
        ));
        assert_eq!(p.action, Action::Abstain, "{p:?}");
    }

    #[test]
    fn abstains_when_the_selector_still_matches() {
        let p = heal(&inputs(
            "#pay-now",
            r#"<button id="pay-now" class="btn primary">Pay now</button>"#,
            BEFORE,
        ));
        assert!(p.abstain_reason.unwrap().contains("still finds"));
    }

    #[test]
    fn robust_selectors_prefer_ids() {
        let d = Dom::parse(BEFORE);
        let pay = d.select("#pay-now").unwrap()[0];
        assert_eq!(robust_selector(&d, pay), "#pay-now");
        let d = Dom::parse("<div><b class=\"x\">1</b><b class=\"x\">2</b></div>");
        let second = d.select("b").unwrap()[1];
        assert_eq!(robust_selector(&d, second), "/div/b[2]");
        let d = Dom::parse("<div><input name=\"q\"><input name=\"r\"></div>");
        assert_eq!(
            robust_selector(&d, d.select("input").unwrap()[1]),
            "input[name=\"r\"]"
        );
    }
}

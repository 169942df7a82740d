//! The in-process search index of one tenant: what answers text searches (`POST …/search` with a
//! `query`, the list's `text`) without asking the database to rank.
//!
//! An inverted index over the four searched fields of each template — name, tags, description,
//! author — with the position of every word, so phrases and prefixes work: terms live in a sorted
//! map (a prefix is a range scan of it), each with its postings (document, field, position) in
//! document order. Words are [`search::words`]: the same rule for the text and the query.
//!
//! Ranking is BM25F: a phrase's occurrences are weighted per field (name 10, tags 4,
//! description 2, author 1) and normalised by the field's length against the tenant's average,
//! then saturated (k1 = 1.2, b = 0.75) and multiplied by the phrase's idf; a template's
//! relevance is the sum over the phrases it matches. Ties: quality (unscored last), name, id.
//!
//! The index holds the summary of every template (what a search page shows), so a search never
//! reads the database; `service::search` keeps it in step with the rows. Documents are
//! numbered in the order they were added; an update is a removal plus an addition, and removed
//! documents leave holes that are compacted away once they outnumber the live ones.
//!
//! [`search::words`]: super::search::words

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use super::model::{TemplateStatus, TemplateSummary};
use super::search::{Phrase, TextQuery, words};
use super::store::{Filter, SortKey};

/// The searched fields, in the order of [`FIELD_WEIGHTS`].
const FIELDS: usize = 4;
/// Weights of name, tags, description and author.
pub const FIELD_WEIGHTS: [f64; FIELDS] = [10.0, 4.0, 2.0, 1.0];
/// BM25 term-frequency saturation.
const K1: f64 = 1.2;
/// BM25 length normalisation.
const B: f64 = 0.75;
/// A posting's field and position share one `u32`: the field in the top bits.
const POSITION_BITS: u32 = 28;
const MAX_POSITION: u32 = (1 << POSITION_BITS) - 1;
/// Removed documents are compacted away once there are more of them than this and than live ones.
const MIN_HOLES_TO_COMPACT: usize = 1024;

/// How a text search is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rank {
    /// By relevance, then quality, then name.
    Relevance,
    /// By a key, descending when `true`.
    By(SortKey, bool),
}

/// One occurrence of a term: in which document, field and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Posting {
    doc: u32,
    /// `field << POSITION_BITS | position`.
    at: u32,
}

impl Posting {
    fn field(self) -> usize {
        (self.at >> POSITION_BITS) as usize
    }
}

struct Doc {
    summary: TemplateSummary,
    /// Words per field.
    lengths: [u32; FIELDS],
}

/// Occurrences of a phrase per field in one document.
type Counts = [u16; FIELDS];

/// The index of one tenant's templates.
#[derive(Default)]
pub struct TenantIndex {
    /// By document number; `None` for a removed document.
    docs: Vec<Option<Doc>>,
    by_id: HashMap<String, u32>,
    terms: BTreeMap<Box<str>, Vec<Posting>>,
    /// Total words per field over the live documents.
    lengths: [u64; FIELDS],
}

impl TenantIndex {
    pub fn new() -> TenantIndex {
        TenantIndex::default()
    }

    /// Templates in the index.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The indexed summary of template `id`.
    pub fn get(&self, id: &str) -> Option<&TemplateSummary> {
        let doc = *self.by_id.get(id)?;
        self.doc(doc).map(|d| &d.summary)
    }

    /// Every indexed template id.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.by_id.keys().map(String::as_str)
    }

    fn doc(&self, doc: u32) -> Option<&Doc> {
        self.docs.get(doc as usize).and_then(Option::as_ref)
    }

    /// Adds a template, or replaces the one with its id.
    pub fn upsert(&mut self, summary: TemplateSummary) {
        self.remove(&summary.id);
        let Ok(doc) = u32::try_from(self.docs.len()) else {
            return;
        };
        let tags = summary.tags.join(" ");
        let fields: [&str; FIELDS] = [&summary.name, &tags, &summary.description, &summary.author];
        let mut lengths = [0u32; FIELDS];
        for (field, text) in fields.iter().enumerate() {
            let field_words = words(text);
            lengths[field] = u32::try_from(field_words.len()).unwrap_or(u32::MAX);
            for (position, word) in field_words.into_iter().enumerate() {
                let position = u32::try_from(position).unwrap_or(MAX_POSITION);
                let posting = Posting {
                    doc,
                    at: ((field as u32) << POSITION_BITS) | position.min(MAX_POSITION),
                };
                // New documents have the highest number: pushing keeps every list in order.
                match self.terms.get_mut(word.as_str()) {
                    Some(list) => list.push(posting),
                    None => {
                        self.terms.insert(word.into_boxed_str(), vec![posting]);
                    }
                }
            }
        }
        for (total, n) in self.lengths.iter_mut().zip(lengths) {
            *total += u64::from(n);
        }
        self.by_id.insert(summary.id.clone(), doc);
        self.docs.push(Some(Doc { summary, lengths }));
    }

    /// Removes template `id`; false when it was not indexed.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(doc) = self.by_id.remove(id) else {
            return false;
        };
        if let Some(removed) = self.docs.get_mut(doc as usize).and_then(Option::take) {
            for (total, n) in self.lengths.iter_mut().zip(removed.lengths) {
                *total -= u64::from(n);
            }
        }
        let holes = self.docs.len() - self.by_id.len();
        if holes > MIN_HOLES_TO_COMPACT && holes > self.by_id.len() {
            self.compact();
        }
        true
    }

    /// Renumbers the live documents and drops the postings of removed ones.
    fn compact(&mut self) {
        let mut renumbered = vec![u32::MAX; self.docs.len()];
        let mut docs = Vec::with_capacity(self.by_id.len());
        for (old, doc) in std::mem::take(&mut self.docs).into_iter().enumerate() {
            if let Some(doc) = doc {
                let new = docs.len() as u32;
                renumbered[old] = new;
                self.by_id.insert(doc.summary.id.clone(), new);
                docs.push(Some(doc));
            }
        }
        self.docs = docs;
        for list in self.terms.values_mut() {
            list.retain_mut(|p| {
                let new = renumbered[p.doc as usize];
                p.doc = new;
                new != u32::MAX
            });
            list.shrink_to_fit();
        }
        self.terms.retain(|_, list| !list.is_empty());
    }

    /// The postings of `word`, or of every term it starts when `prefix`.
    fn lists(&self, word: &str, prefix: bool) -> Vec<&[Posting]> {
        if !prefix {
            return self
                .terms
                .get(word)
                .map(Vec::as_slice)
                .into_iter()
                .collect();
        }
        self.terms
            .range::<str, _>((Bound::Included(word), Bound::Unbounded))
            .take_while(|(term, _)| term.starts_with(word))
            .map(|(_, list)| list.as_slice())
            .collect()
    }

    /// Per document (in order), how often `phrase` occurs in each field.
    fn occurrences(&self, phrase: &Phrase) -> Vec<(u32, Counts)> {
        let last = phrase.words.len() - 1;
        if last == 0 {
            return self.count(&self.lists(&phrase.words[0], phrase.prefix));
        }
        let Some(first) = self.terms.get(phrase.words[0].as_str()) else {
            return Vec::new();
        };
        // The lists each following word may come from (several for a prefix).
        let mut rest = Vec::with_capacity(last);
        for (i, word) in phrase.words.iter().enumerate().skip(1) {
            let lists = self.lists(word, phrase.prefix && i == last);
            if lists.is_empty() {
                return Vec::new();
            }
            rest.push(lists);
        }
        let mut out = Vec::new();
        for run in first.chunk_by(|a, b| a.doc == b.doc) {
            let doc = run[0].doc;
            if self.doc(doc).is_none() {
                continue;
            }
            let mut counts = Counts::default();
            for start in run {
                let position = start.at & MAX_POSITION;
                if position as usize + last > MAX_POSITION as usize {
                    continue;
                }
                let follows = rest.iter().enumerate().all(|(k, lists)| {
                    let next = Posting {
                        doc,
                        at: start.at + k as u32 + 1,
                    };
                    lists.iter().any(|list| list.binary_search(&next).is_ok())
                });
                if follows {
                    let c = &mut counts[start.field()];
                    *c = c.saturating_add(1);
                }
            }
            if counts != Counts::default() {
                out.push((doc, counts));
            }
        }
        out
    }

    /// Occurrences per live document and field of the terms of `lists` together.
    fn count(&self, lists: &[&[Posting]]) -> Vec<(u32, Counts)> {
        let mut out = Vec::new();
        match lists {
            [] => {}
            [list] => {
                for run in list.chunk_by(|a, b| a.doc == b.doc) {
                    if self.doc(run[0].doc).is_none() {
                        continue;
                    }
                    let mut counts = Counts::default();
                    for p in run {
                        let c = &mut counts[p.field()];
                        *c = c.saturating_add(1);
                    }
                    out.push((run[0].doc, counts));
                }
            }
            // Several terms (a prefix): sum them per document in one pass over a dense table.
            _ => {
                let mut table = vec![Counts::default(); self.docs.len()];
                for list in lists {
                    for p in *list {
                        let c = &mut table[p.doc as usize][p.field()];
                        *c = c.saturating_add(1);
                    }
                }
                for (doc, counts) in table.into_iter().enumerate() {
                    if counts != Counts::default() && self.doc(doc as u32).is_some() {
                        out.push((doc as u32, counts));
                    }
                }
            }
        }
        out
    }

    /// Documents matching `phrase` with their BM25F score for it.
    fn scored(&self, phrase: &Phrase, averages: &[f64; FIELDS]) -> Vec<(u32, f64)> {
        let hits = self.occurrences(phrase);
        let n = self.len() as f64;
        let df = hits.len() as f64;
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        hits.into_iter()
            .filter_map(|(doc, counts)| {
                let lengths = self.doc(doc)?.lengths;
                let mut tf = 0.0;
                for (field, &count) in counts.iter().enumerate() {
                    if count == 0 {
                        continue;
                    }
                    let norm = if averages[field] > 0.0 {
                        1.0 - B + B * f64::from(lengths[field]) / averages[field]
                    } else {
                        1.0
                    };
                    tf += FIELD_WEIGHTS[field] * f64::from(count) / norm;
                }
                Some((doc, idf * tf * (K1 + 1.0) / (tf + K1)))
            })
            .collect()
    }

    /// One page of the templates matching `text` and `filter`, in `rank` order, and how many
    /// match in all. `relevance` is set when ranked by it.
    pub fn search(
        &self,
        text: &TextQuery,
        filter: &Filter,
        rank: Rank,
        limit: usize,
        offset: usize,
    ) -> (Vec<TemplateSummary>, usize) {
        let live = self.len().max(1) as f64;
        let averages = self.lengths.map(|total| total as f64 / live);
        // Each group: the documents matching one of its phrases, with the summed scores.
        let mut groups: Vec<Vec<(u32, f64)>> = Vec::with_capacity(text.groups.len());
        for group in &text.groups {
            let mut matched: Vec<(u32, f64)> = Vec::new();
            for phrase in group {
                matched.extend(self.scored(phrase, &averages));
            }
            if group.len() > 1 {
                matched.sort_unstable_by_key(|(doc, _)| *doc);
                matched.dedup_by(|next, kept| {
                    let same = next.0 == kept.0;
                    if same {
                        kept.1 += next.1;
                    }
                    same
                });
            }
            if matched.is_empty() {
                return (Vec::new(), 0);
            }
            groups.push(matched);
        }
        // Every group must match: start from the smallest.
        groups.sort_by_key(Vec::len);
        let mut groups = groups.into_iter();
        let Some(mut found) = groups.next() else {
            return (Vec::new(), 0);
        };
        for group in groups {
            found.retain_mut(
                |(doc, score)| match group.binary_search_by_key(doc, |(d, _)| *d) {
                    Ok(i) => {
                        *score += group[i].1;
                        true
                    }
                    Err(_) => false,
                },
            );
        }
        for phrase in &text.excluded {
            if found.is_empty() {
                break;
            }
            let excluded = self.occurrences(phrase);
            found.retain(|(doc, _)| excluded.binary_search_by_key(doc, |(d, _)| *d).is_err());
        }
        let mut found: Vec<(&TemplateSummary, f64)> = found
            .into_iter()
            .filter_map(|(doc, score)| {
                let summary = &self.doc(doc)?.summary;
                passes(summary, filter).then_some((summary, score))
            })
            .collect();
        let total = found.len();
        let end = offset.saturating_add(limit).min(total);
        if offset >= end {
            return (Vec::new(), total);
        }
        let order = |a: &(&TemplateSummary, f64), b: &(&TemplateSummary, f64)| match rank {
            Rank::Relevance => b.1.total_cmp(&a.1).then_with(|| by_quality(a.0, b.0, true)),
            Rank::By(key, descending) => by_key(a.0, b.0, key, descending),
        };
        if end < total {
            found.select_nth_unstable_by(end - 1, order);
            found.truncate(end);
        }
        found.sort_unstable_by(order);
        let relevance = rank == Rank::Relevance;
        let page = found[offset..end]
            .iter()
            .map(|(summary, score)| TemplateSummary {
                relevance: relevance.then_some(*score),
                ..(*summary).clone()
            })
            .collect();
        (page, total)
    }
}

/// Whether a template passes the filters other than the text.
fn passes(t: &TemplateSummary, filter: &Filter) -> bool {
    filter.category.as_ref().is_none_or(|c| *c == t.category)
        && filter.author.as_ref().is_none_or(|a| *a == t.author)
        && filter
            .min_quality
            .is_none_or(|min| t.quality_score.is_some_and(|q| q >= min))
        && (!filter.published_only || t.status == TemplateStatus::Published)
        && filter.tags.iter().all(|tag| t.tags.contains(tag))
}

/// Quality (unscored last either way), then name, then id.
fn by_quality(a: &TemplateSummary, b: &TemplateSummary, descending: bool) -> Ordering {
    let quality = match (a.quality_score, b.quality_score) {
        (Some(x), Some(y)) if descending => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    quality
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.id.cmp(&b.id))
}

/// The list orders: the key in its direction, then the id.
fn by_key(a: &TemplateSummary, b: &TemplateSummary, key: SortKey, descending: bool) -> Ordering {
    let directed = |o: Ordering| if descending { o.reverse() } else { o };
    match key {
        SortKey::Name => directed(a.name.cmp(&b.name)).then_with(|| a.id.cmp(&b.id)),
        SortKey::Updated => directed(a.updated_at.cmp(&b.updated_at)).then_with(|| a.id.cmp(&b.id)),
        SortKey::Created => directed(a.created_at.cmp(&b.created_at)).then_with(|| a.id.cmp(&b.id)),
        SortKey::Quality => by_quality(a, b, descending),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::modules::templates::search::parse;

    fn template(id: &str, name: &str, tags: &[&str], description: &str) -> TemplateSummary {
        TemplateSummary {
            id: id.to_string(),
            name: name.to_string(),
            version: "1.0.0".to_string(),
            description: description.to_string(),
            category: "backend_developer".to_string(),
            author: "Search Team".to_string(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            format: "native".to_string(),
            quality_score: None,
            current_commit: "0".repeat(40),
            file_count: 1,
            size_bytes: 1,
            has_hooks: false,
            created_by: "u".to_string(),
            updated_by: "u".to_string(),
            created_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            updated_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            relevance: None,
            status: TemplateStatus::Published,
            draft_gate: None,
        }
    }

    fn catalog() -> TenantIndex {
        let mut index = TenantIndex::new();
        for t in [
            template(
                "1",
                "postgres-migrations",
                &["postgresql", "sql"],
                "Schema migrations for PostgreSQL with rollback",
            ),
            template(
                "2",
                "admin-dashboard",
                &["react", "admin"],
                "An admin dashboard with charts",
            ),
            template("3", "ops-console", &["ops"], "Dashboard for the admin team"),
            template("4", "go-service", &["go", "grpc"], "A gRPC service in Go"),
            template(
                "5",
                "google-cloud-function",
                &["gcp", "serverless"],
                "Serverless function on Google Cloud",
            ),
            template(
                "6",
                "legacy-monolith",
                &["java"],
                "Legacy Java service with migrations",
            ),
        ] {
            index.upsert(t);
        }
        index
    }

    fn found(index: &TenantIndex, query: &str) -> Vec<String> {
        found_with(index, query, &Filter::default(), Rank::Relevance)
    }

    fn found_with(index: &TenantIndex, query: &str, filter: &Filter, rank: Rank) -> Vec<String> {
        let text = parse(query).unwrap().unwrap();
        let (page, total) = index.search(&text, filter, rank, 100, 0);
        assert_eq!(page.len(), total, "{query}");
        page.into_iter().map(|t| t.name).collect()
    }

    fn sorted(mut names: Vec<String>) -> Vec<String> {
        names.sort();
        names
    }

    #[test]
    fn words_phrases_prefixes_alternatives_and_exclusions() {
        let index = catalog();
        // A word of three or more letters also finds longer words; the name outranks the
        // description.
        assert_eq!(
            found(&index, "migration"),
            vec!["postgres-migrations", "legacy-monolith"]
        );
        assert_eq!(found(&index, "POSTGRES migr"), vec!["postgres-migrations"]);
        assert!(found(&index, "\"migration\"").is_empty());
        assert_eq!(
            found(&index, "\"admin dashboard\""),
            vec!["admin-dashboard"]
        );
        assert_eq!(
            found(&index, "admin dashboard"),
            vec!["admin-dashboard", "ops-console"]
        );
        assert_eq!(
            found(&index, "postgres-migrations"),
            vec!["postgres-migrations"]
        );
        // A phrase whose last word is a prefix.
        assert_eq!(
            found(&index, "\"google clo\"*"),
            vec!["google-cloud-function"]
        );
        assert!(found(&index, "\"google clo\"").is_empty());
        assert_eq!(found(&index, "go"), vec!["go-service"]);
        assert_eq!(
            sorted(found(&index, "go*")),
            vec!["go-service", "google-cloud-function"]
        );
        assert_eq!(
            found(&index, "migrations -legacy"),
            vec!["postgres-migrations"]
        );
        assert_eq!(
            sorted(found(&index, "react OR grpc")),
            vec!["admin-dashboard", "go-service"]
        );
        assert_eq!(
            found(&index, "service -\"grpc service\""),
            vec!["legacy-monolith"]
        );
        // Words of one field never make a phrase with the next field's.
        assert!(found(&index, "\"monolith java\"").is_empty());
        assert!(found(&index, "nothing-like-this").is_empty());
    }

    #[test]
    fn fields_weigh_name_then_tags_then_description_then_author() {
        let mut index = TenantIndex::new();
        index.upsert(template("d", "delta", &["stream"], "kafka consumer"));
        index.upsert(template("n", "kafka-bridge", &["bridge"], "a bridge"));
        index.upsert(template("t", "tango", &["kafka"], "a tango"));
        let mut by_author = template("a", "alpha", &["misc"], "an alpha");
        by_author.author = "Kafka Team".into();
        index.upsert(by_author);
        assert_eq!(
            found(&index, "kafka"),
            vec!["kafka-bridge", "tango", "delta", "alpha"]
        );
        let text = parse("kafka").unwrap().unwrap();
        let (page, _) = index.search(&text, &Filter::default(), Rank::Relevance, 10, 0);
        let scores: Vec<f64> = page.iter().map(|t| t.relevance.unwrap()).collect();
        assert!(scores.windows(2).all(|w| w[0] > w[1]), "{scores:?}");
    }

    #[test]
    fn a_rarer_word_counts_for_more() {
        let mut index = TenantIndex::new();
        for (id, name) in [
            ("1", "kafka-one"),
            ("2", "kafka-two"),
            ("3", "kafka-six"),
            ("4", "tango-one"),
        ] {
            index.upsert(template(id, name, &["x"], "same"));
        }
        assert_eq!(found(&index, "kafka OR tango")[0], "tango-one");
    }

    #[test]
    fn ties_go_to_quality_then_name_and_other_orders_have_no_relevance() {
        let mut index = TenantIndex::new();
        for (id, name, quality) in [
            ("1", "b-kafka", None),
            ("2", "a-kafka", None),
            ("3", "c-kafka", Some(80.0)),
            ("4", "d-kafka", Some(90.0)),
        ] {
            let mut t = template(id, name, &[], "same words");
            t.quality_score = quality;
            t.updated_at = Utc
                .timestamp_opt(1_700_000_000 + id.parse::<i64>().unwrap(), 0)
                .unwrap();
            index.upsert(t);
        }
        let all = Filter::default();
        assert_eq!(
            found_with(&index, "same words", &all, Rank::Relevance),
            vec!["d-kafka", "c-kafka", "a-kafka", "b-kafka"]
        );
        assert_eq!(
            found_with(&index, "same", &all, Rank::By(SortKey::Name, true)),
            vec!["d-kafka", "c-kafka", "b-kafka", "a-kafka"]
        );
        assert_eq!(
            found_with(&index, "same", &all, Rank::By(SortKey::Quality, false)),
            vec!["c-kafka", "d-kafka", "a-kafka", "b-kafka"]
        );
        assert_eq!(
            found_with(&index, "same", &all, Rank::By(SortKey::Updated, true)),
            vec!["d-kafka", "c-kafka", "a-kafka", "b-kafka"]
        );
        let text = parse("same").unwrap().unwrap();
        let (page, total) = index.search(&text, &all, Rank::By(SortKey::Name, false), 2, 1);
        assert_eq!(total, 4);
        assert_eq!(
            page.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            vec!["b-kafka", "c-kafka"]
        );
        assert!(page.iter().all(|t| t.relevance.is_none()));
        let (page, total) = index.search(&text, &all, Rank::Relevance, 2, 10);
        assert_eq!(
            (page.len(), total),
            (0, 4),
            "a page past the end still counts"
        );
    }

    #[test]
    fn filters_apply_to_text_matches() {
        let mut index = catalog();
        let mut draft = template("7", "draft-service", &["go"], "A draft service");
        draft.status = TemplateStatus::Draft;
        draft.quality_score = Some(50.0);
        draft.category = "devops_engineer".into();
        index.upsert(draft);
        let rank = Rank::By(SortKey::Name, false);
        let published = Filter {
            published_only: true,
            ..Filter::default()
        };
        assert_eq!(
            found_with(&index, "service", &Filter::default(), rank),
            vec!["draft-service", "go-service", "legacy-monolith"]
        );
        assert_eq!(
            found_with(&index, "service", &published, rank),
            vec!["go-service", "legacy-monolith"]
        );
        let tagged = Filter {
            tags: vec!["go".into()],
            ..Filter::default()
        };
        assert_eq!(
            found_with(&index, "service", &tagged, rank),
            vec!["draft-service", "go-service"]
        );
        let category = Filter {
            category: Some("devops_engineer".into()),
            min_quality: Some(40.0),
            ..Filter::default()
        };
        assert_eq!(
            found_with(&index, "service", &category, rank),
            vec!["draft-service"]
        );
        let author = Filter {
            author: Some("Other Team".into()),
            ..Filter::default()
        };
        assert!(found_with(&index, "service", &author, rank).is_empty());
    }

    #[test]
    fn updates_and_removals_are_followed_through_compaction() {
        let mut index = catalog();
        index.upsert(template(
            "4",
            "go-service",
            &["go", "connect"],
            "A Connect RPC service",
        ));
        assert!(found(&index, "grpc").is_empty());
        assert_eq!(found(&index, "connect"), vec!["go-service"]);
        assert_eq!(index.len(), 6);
        assert!(index.remove("4"));
        assert!(!index.remove("4"));
        assert!(found(&index, "connect").is_empty());
        // Many removals: holes get compacted, results stay right.
        for i in 0..3000 {
            index.upsert(template(
                &format!("n{i}"),
                &format!("bulk-{i}"),
                &["bulk"],
                "filler words",
            ));
        }
        for i in 0..2900 {
            index.remove(&format!("n{i}"));
        }
        assert!(index.docs.len() < 3000, "compacted: {}", index.docs.len());
        assert_eq!(found(&index, "bulk").len(), 100);
        assert_eq!(found(&index, "\"bulk 2950\""), vec!["bulk-2950"]);
        assert_eq!(
            found(&index, "migration"),
            vec!["postgres-migrations", "legacy-monolith"]
        );
        assert_eq!(
            index.get("n2999").map(|t| t.name.as_str()),
            Some("bulk-2999")
        );
    }

    /// The index against a plain scan of every template's words, over generated catalogs and
    /// queries of every kind.
    #[test]
    fn matches_what_a_plain_scan_finds() {
        const WORDS: [&str; 12] = [
            "api", "apis", "app", "rust", "rusty", "go", "gopher", "kafka", "worker", "work",
            "data", "dash",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        fn phrase(len: usize, next: &mut dyn FnMut(usize) -> usize) -> String {
            (0..len)
                .map(|_| WORDS[next(WORDS.len())])
                .collect::<Vec<_>>()
                .join(" ")
        }
        let mut index = TenantIndex::new();
        let mut all = Vec::new();
        for i in 0..300 {
            let t = template(
                &i.to_string(),
                &phrase(1 + next(3), &mut next).replace(' ', "-"),
                &[WORDS[next(WORDS.len())], WORDS[next(WORDS.len())]],
                &phrase(next(8), &mut next),
            );
            index.upsert(t.clone());
            all.push(t);
        }
        // Some updates and removals, mirrored in the plain list.
        for i in (0..300).step_by(7) {
            let t = template(&i.to_string(), "replaced", &["rust"], &phrase(3, &mut next));
            index.upsert(t.clone());
            all[i] = t;
        }
        for i in (0..300).step_by(11) {
            index.remove(&i.to_string());
        }
        let all: Vec<TemplateSummary> = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % 11 != 0)
            .map(|(_, t)| t)
            .collect();
        let has_phrase = |t: &TemplateSummary, p: &Phrase| {
            let tags = t.tags.join(" ");
            [&t.name, &tags, &t.description, &t.author]
                .iter()
                .any(|field| {
                    let w = words(field);
                    (0..w.len()).any(|start| {
                        p.words.iter().enumerate().all(|(k, word)| {
                            w.get(start + k).is_some_and(|have| {
                                if p.prefix && k == p.words.len() - 1 {
                                    have.starts_with(word.as_str())
                                } else {
                                    have == word
                                }
                            })
                        })
                    })
                })
        };
        let queries = [
            "api",
            "ap",
            "ap*",
            "\"api\"",
            "rust go",
            "\"rust go\"",
            "\"rust go\"*",
            "kafka or dash",
            "work -worker",
            "data -\"data dash\"",
            "app-rust",
            "go* -gopher",
            "wor dat",
            "\"work data\" or kafka rust",
            "gopher or gopher",
        ];
        for raw in queries {
            let text = parse(raw).unwrap().unwrap();
            let mut expected: Vec<&str> = all
                .iter()
                .filter(|t| {
                    text.groups
                        .iter()
                        .all(|g| g.iter().any(|p| has_phrase(t, p)))
                        && !text.excluded.iter().any(|p| has_phrase(t, p))
                })
                .map(|t| t.id.as_str())
                .collect();
            expected.sort();
            let (page, total) = index.search(&text, &Filter::default(), Rank::Relevance, 1000, 0);
            let mut got: Vec<&str> = page.iter().map(|t| t.id.as_str()).collect();
            got.sort();
            assert_eq!(got, expected, "{raw}");
            assert_eq!(total, expected.len(), "{raw}");
        }
    }
}

//! Unit tests of the git store: single commits, history, the fan-out and the legacy layout.

use super::layout::legacy_path;
use super::*;

fn file(path: &str, content: &str) -> SourceFile {
    SourceFile {
        path: path.into(),
        content: content.as_bytes().to_vec(),
        executable: false,
    }
}

/// A store in a new temporary folder (removed when the `TempDir` drops) and tenant-1's repository.
fn fresh_repo() -> (tempfile::TempDir, GitStore, gix::Repository) {
    let dir = tempfile::tempdir().unwrap();
    let store = GitStore::new(dir.path().to_path_buf());
    let repo = store.open("tenant-1").unwrap();
    (dir, store, repo)
}

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).single().unwrap()
}

#[test]
fn writes_are_single_commits_with_history_per_template() {
    let (_dir, store, repo) = fresh_repo();
    let alice = Author::new("alice@example.com", "alice@example.com");
    let files = vec![
        file("manifest.yaml", "name: a\n"),
        file("src/x.txt", "one\n"),
    ];
    let first = write_template(&repo, "a", Some(&files), &alice, at(0), |c| {
        format!("Create a ({} files)", c.added.len())
    })
    .unwrap();
    let WriteOutcome::Committed {
        commit: c1,
        changes,
        ..
    } = first
    else {
        panic!("expected a commit")
    };
    assert_eq!(changes.added, vec!["manifest.yaml", "src/x.txt"]);

    // Another template: not part of a's history.
    write_template(
        &repo,
        "b",
        Some(&[file("manifest.yaml", "name: b\n")]),
        &alice,
        at(1),
        |_| "Create b".into(),
    )
    .unwrap();

    // Same content: no commit.
    let same = write_template(&repo, "a", Some(&files), &alice, at(2), |_| "noop".into()).unwrap();
    assert!(matches!(same, WriteOutcome::Unchanged { .. }));

    let mut changed = files.clone();
    changed[1] = file("src/x.txt", "two\n");
    changed.push(file("run.sh", "#!/bin/sh\n").executable(true));
    let WriteOutcome::Committed {
        commit: c3,
        changes,
        ..
    } = write_template(&repo, "a", Some(&changed), &alice, at(3), |_| {
        "Update a".into()
    })
    .unwrap()
    else {
        panic!("expected a commit")
    };
    assert_eq!(changes.added, vec!["run.sh"]);
    assert_eq!(changes.modified, vec!["src/x.txt"]);

    let hist = history(&repo, tip(&repo).unwrap(), "a", 100).unwrap();
    let ids: Vec<ObjectId> = hist.iter().map(|v| v.commit).collect();
    assert_eq!(ids, vec![c3, c1]);
    assert_eq!(hist[0].change, Change::Modified);
    assert_eq!(hist[1].change, Change::Added);
    assert_eq!(hist[0].author_email, "alice@example.com");

    // The walk stops where its caller says: one entry costs one entry.
    let mut visited = Vec::new();
    walk_changes(&repo, tip(&repo).unwrap(), "a", |change| {
        visited.push(change.commit);
        false
    })
    .unwrap();
    assert_eq!(visited, vec![c3]);
    let newest = history(&repo, tip(&repo).unwrap(), "a", 1).unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].commit, c3);
    assert_eq!(newest[0].summary, "Update a");

    // The store walks a history once per tip: the same tip answers from memory, a new commit
    // walks again (and sees it).
    let remembered = store.changes("tenant-1", &repo, "a").unwrap();
    assert_eq!(
        remembered.iter().map(|c| c.commit).collect::<Vec<_>>(),
        vec![c3, c1]
    );
    assert!(Arc::ptr_eq(
        &remembered,
        &store.changes("tenant-1", &repo, "a").unwrap()
    ));

    let listing = template_listing(&repo, c3, "a").unwrap().unwrap();
    assert!(listing.iter().any(|f| f.path == "run.sh" && f.executable));
    let old = template_files(&repo, c1, "a").unwrap().unwrap();
    assert_eq!(old, files);

    let WriteOutcome::Committed {
        commit: c4,
        previous_tip,
        ..
    } = write_template(&repo, "a", None, &alice, at(4), |_| "Delete a".into()).unwrap()
    else {
        panic!("expected a commit")
    };
    assert!(template_tree(&repo, c4, "a").unwrap().is_none());
    let after_delete = store.changes("tenant-1", &repo, "a").unwrap();
    assert_eq!(after_delete[0].commit, c4);
    assert_eq!(after_delete[0].change, Change::Removed);
    assert_eq!(after_delete.len(), 3);
    assert_eq!(
        history(&repo, Some(c4), "a", 100).unwrap()[0].change,
        Change::Removed
    );

    // Rolling back restores the previous tip only from the expected state.
    assert!(move_branch(&repo, Some(c1), previous_tip, "rollback").is_err());
    move_branch(&repo, Some(c4), previous_tip, "rollback").unwrap();
    assert_eq!(tip(&repo).unwrap(), previous_tip);
    assert_eq!(templates_at(&repo, previous_tip).unwrap().len(), 2);
}

/// A commit as Maestro wrote them before the fan-out: `templates/<id>/<path>`.
fn write_legacy(repo: &gix::Repository, id: &str, files: &[SourceFile], at_secs: i64) -> ObjectId {
    let previous = tip(repo).unwrap();
    let base = match previous {
        Some(c) => repo.find_commit(c).unwrap().tree_id().unwrap().detach(),
        None => ObjectId::empty_tree(repo.object_hash()),
    };
    let mut editor = repo.edit_tree(base).unwrap();
    editor.remove(legacy_path(id).as_str()).unwrap();
    for f in files {
        let blob = repo.write_blob(&f.content).unwrap().detach();
        editor
            .upsert(
                format!("{}/{}", legacy_path(id), f.path).as_str(),
                EntryKind::Blob,
                blob,
            )
            .unwrap();
    }
    let tree = editor.write().unwrap().detach();
    let sig = committer().signature(at(at_secs));
    let (mut b1, mut b2) = Default::default();
    repo.commit_as(
        sig.to_ref(&mut b1),
        sig.to_ref(&mut b2),
        BRANCH,
        format!("legacy {id}"),
        tree,
        previous,
    )
    .unwrap()
    .detach()
}

fn paths(repo: &gix::Repository) -> Vec<String> {
    let commit = tip(repo).unwrap().unwrap();
    let tree = repo
        .find_commit(commit)
        .unwrap()
        .tree_id()
        .unwrap()
        .detach();
    let mut out: Vec<String> = repo
        .find_tree(tree)
        .unwrap()
        .traverse()
        .breadthfirst
        .files()
        .unwrap()
        .into_iter()
        .filter(|e| !e.mode.is_tree())
        .map(|e| e.filepath.to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn templates_live_in_buckets_and_the_legacy_layout_still_reads_and_moves() {
    let (_dir, _store, repo) = fresh_repo();
    let bob = Author::new("bob", "bob@example.com");
    let v1 = vec![file("a.txt", "1\n"), file("manifest.yaml", "name: old\n")];
    let v2 = vec![file("a.txt", "2\n"), file("manifest.yaml", "name: old\n")];
    let other = vec![file("manifest.yaml", "name: other\n")];
    // Two templates in the legacy layout, one with two versions.
    let c1 = write_legacy(&repo, "Ab12-old", &v1, 0);
    let c2 = write_legacy(&repo, "cd34-other", &other, 1);
    let c3 = write_legacy(&repo, "Ab12-old", &v2, 2);
    assert!(paths(&repo).contains(&"templates/Ab12-old/a.txt".to_string()));

    // Reads, listing and history see them.
    assert_eq!(template_files(&repo, c1, "Ab12-old").unwrap().unwrap(), v1);
    assert_eq!(
        template_file(&repo, c3, "Ab12-old", "a.txt")
            .unwrap()
            .unwrap()
            .content,
        b"2\n"
    );
    let listed: Vec<String> = templates_at(&repo, Some(c3)).unwrap().into_keys().collect();
    assert_eq!(listed, vec!["Ab12-old", "cd34-other"]);
    let ids = |h: Vec<VersionRecord>| h.into_iter().map(|v| v.commit).collect::<Vec<_>>();
    assert_eq!(
        ids(history(&repo, Some(c3), "Ab12-old", 100).unwrap()),
        vec![c3, c1]
    );

    // The same files again: no commit, nothing moves.
    let same = write_template(&repo, "Ab12-old", Some(&v2), &bob, at(3), |_| "x".into());
    assert!(matches!(same.unwrap(), WriteOutcome::Unchanged { .. }));

    // A change moves the template into its bucket, in the same single commit.
    let v3 = vec![file("a.txt", "3\n"), file("manifest.yaml", "name: old\n")];
    let WriteOutcome::Committed {
        commit: c4,
        changes,
        ..
    } = write_template(&repo, "Ab12-old", Some(&v3), &bob, at(4), |_| "u".into()).unwrap()
    else {
        panic!("expected a commit")
    };
    assert_eq!(changes.modified, vec!["a.txt"]);
    assert!(changes.added.is_empty() && changes.removed.is_empty());
    let now = paths(&repo);
    assert!(
        now.contains(&"templates/ab/Ab12-old/a.txt".to_string()),
        "{now:?}"
    );
    assert!(
        !now.iter().any(|p| p.starts_with("templates/Ab12-old/")),
        "{now:?}"
    );
    assert_eq!(
        ids(history(&repo, Some(c4), "Ab12-old", 100).unwrap()),
        vec![c4, c3, c1],
        "history runs across the move"
    );
    assert_eq!(template_files(&repo, c1, "Ab12-old").unwrap().unwrap(), v1);

    // New templates go into their buckets.
    write_template(&repo, "cd99-new", Some(&other), &bob, at(5), |_| "c".into()).unwrap();
    assert!(paths(&repo).contains(&"templates/cd/cd99-new/manifest.yaml".to_string()));

    // The one-time migration moves the rest without touching any template's history.
    let before = history(&repo, tip(&repo).unwrap(), "cd34-other", 100).unwrap();
    let Some(WriteOutcome::Committed { commit: c6, .. }) = migrate_layout(&repo, at(6)).unwrap()
    else {
        panic!("expected the migration commit")
    };
    assert!(migrate_layout(&repo, at(7)).unwrap().is_none(), "once");
    let now = paths(&repo);
    assert_eq!(
        now,
        vec![
            "templates/ab/Ab12-old/a.txt",
            "templates/ab/Ab12-old/manifest.yaml",
            "templates/cd/cd34-other/manifest.yaml",
            "templates/cd/cd99-new/manifest.yaml",
        ]
    );
    let after = history(&repo, Some(c6), "cd34-other", 100).unwrap();
    assert_eq!(ids(after), ids(before));
    assert_eq!(
        ids(history(&repo, Some(c6), "cd34-other", 100).unwrap()),
        vec![c2]
    );
    assert_eq!(templates_at(&repo, Some(c6)).unwrap().len(), 3);

    // Deleting the last template of a bucket removes the bucket.
    write_template(&repo, "cd34-other", None, &bob, at(8), |_| "d".into()).unwrap();
    write_template(&repo, "cd99-new", None, &bob, at(9), |_| "d".into()).unwrap();
    assert!(!paths(&repo).iter().any(|p| p.starts_with("templates/cd/")));
}

#[test]
fn a_legacy_template_named_like_a_bucket_moves_into_it() {
    let (_dir, _store, repo) = fresh_repo();
    let bob = Author::new("bob", "bob@example.com");
    let short = vec![file("manifest.yaml", "name: short\n")];
    write_legacy(&repo, "ab", &short, 0);
    let c1 = tip(&repo).unwrap().unwrap();
    assert_eq!(template_files(&repo, c1, "ab").unwrap().unwrap(), short);
    let long = vec![file("manifest.yaml", "name: long\n")];
    write_template(&repo, "abc", Some(&long), &bob, at(1), |_| "c".into()).unwrap();
    assert_eq!(
        paths(&repo),
        vec![
            "templates/ab/ab/manifest.yaml",
            "templates/ab/abc/manifest.yaml"
        ]
    );
    let c2 = tip(&repo).unwrap().unwrap();
    assert_eq!(template_files(&repo, c2, "ab").unwrap().unwrap(), short);
    assert_eq!(template_files(&repo, c2, "abc").unwrap().unwrap(), long);
    assert_eq!(history(&repo, Some(c2), "ab", 10).unwrap().len(), 1);
    assert_eq!(bucket_of("a"), "a_");
}

#[test]
fn identities_and_urls_are_cleaned() {
    let a = Author::new("Eve <evil>\n", "");
    assert_eq!(a.name, "Eve evil");
    assert_eq!(a.email, "maestro@localhost");
    assert_eq!(
        redact_credentials("fatal: https://bob:s3cret@example.com/repo.git failed"),
        "fatal: https://[redacted]@example.com/repo.git failed"
    );
}

#[test]
fn tenant_ids_cannot_escape_the_root() {
    let store = GitStore::new(PathBuf::from("/tmp/x"));
    assert!(store.repo_path("../etc").is_err());
    assert!(store.repo_path("a/b").is_err());
    assert!(
        store
            .repo_path("0b6f1f5e-1f5e-4f5e-9f5e-1f5e1f5e1f5e")
            .is_ok()
    );
}

/// A remembered history brought up to date with the commits since is what a fresh walk finds,
/// also when the branch was moved back under it.
#[test]
fn remembered_histories_catch_up_with_new_commits() {
    let (_dir, store, repo) = fresh_repo();
    let alice = Author::new("alice@example.com", "alice@example.com");
    let fresh = |repo: &gix::Repository| {
        let mut all = Vec::new();
        walk_changes(repo, tip(repo).unwrap(), "a", |change| {
            all.push(change);
            true
        })
        .unwrap();
        all
    };
    let write = |id: &str, content: &str, secs: i64| {
        let files = [file("manifest.yaml", content)];
        write_template(&repo, id, Some(&files), &alice, at(secs), |_| "w".into()).unwrap();
    };
    write("a", "name: a\n", 0);
    write("b", "name: b\n", 1);
    assert_eq!(
        *store.changes("tenant-1", &repo, "a").unwrap(),
        fresh(&repo)
    );
    let before = tip(&repo).unwrap();

    // Commits on top of the remembered tip: this template's and another's.
    write("b", "name: b\nv: 2\n", 2);
    write("a", "name: a\nv: 2\n", 3);
    write("b", "name: b\nv: 3\n", 4);
    let caught_up = store.changes("tenant-1", &repo, "a").unwrap();
    assert_eq!(caught_up.len(), 2);
    assert_eq!(*caught_up, fresh(&repo));

    // The branch moved back below the remembered tip, then a new commit: walked afresh.
    move_branch(&repo, tip(&repo).unwrap(), before, "reset").unwrap();
    write("a", "name: a\nv: 3\n", 5);
    let after_reset = store.changes("tenant-1", &repo, "a").unwrap();
    assert_eq!(after_reset.len(), 2);
    assert_eq!(*after_reset, fresh(&repo));

    write_template(&repo, "a", None, &alice, at(6), |_| "Delete a".into()).unwrap();
    let deleted = store.changes("tenant-1", &repo, "a").unwrap();
    assert_eq!(deleted[0].change, Change::Removed);
    assert_eq!(*deleted, fresh(&repo));
}

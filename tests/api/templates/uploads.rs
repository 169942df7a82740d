//! Archive uploads and untrusted paths: good archives become templates; traversal, symlinks,
//! oversized files and zip bombs are refused with a 4xx naming the problem, and leave no file,
//! row or commit behind.

use std::io::Write;
use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{git_log, repo_path, total};
use crate::helpers::{TestApp, send};

const MANIFEST: &str = "name: uploaded\nversion: 0.1.0\ndescription: Uploaded as an archive\ncategory: devops_engineer\nauthor: Test Team\ntags: [ci]\nparameters:\n  - name: app\n    type: string\n    default: demo\n";

fn zip_of(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, content, mode) in entries {
        let o = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(*mode);
        w.start_file(*path, o).unwrap();
        w.write_all(content).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn zip_with_symlink() -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file("manifest.yaml", SimpleFileOptions::default())
        .unwrap();
    w.write_all(MANIFEST.as_bytes()).unwrap();
    w.add_symlink("link", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    w.finish().unwrap().into_inner()
}

fn tar_gz(build: impl FnOnce(&mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    build(&mut b);
    b.into_inner().unwrap().finish().unwrap()
}

fn add_file(
    b: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    path: &str,
    content: &[u8],
    mode: u32,
) {
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(mode);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, content).unwrap();
}

async fn upload(
    app: &TestApp,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, serde_json::Value) {
    send(
        app.request(Method::POST, "/api/v1/templates", Some(&app.editor.token))
            .header("Content-Type", content_type)
            .body(body),
    )
    .await
}

/// Objects in the tenant's repository (loose or packed): none after refused uploads.
fn object_count(path: &Path) -> usize {
    let objects = path.join("objects");
    let Ok(dirs) = std::fs::read_dir(&objects) else {
        return 0;
    };
    dirs.filter_map(Result::ok)
        .filter(|d| d.file_name() != "info")
        .map(|d| std::fs::read_dir(d.path()).map(|f| f.count()).unwrap_or(0))
        .sum()
}

#[tokio::test]
async fn zip_and_tar_gz_uploads_become_templates_with_modes_kept() {
    let app = TestApp::spawn().await;
    let zip = zip_of(&[
        ("uploaded/manifest.yaml", MANIFEST.as_bytes(), 0o644),
        ("uploaded/README.md", b"# Uploaded\n", 0o644),
        (
            "uploaded/{{ app }}/deploy.sh",
            b"#!/bin/sh\necho {{ app }}\n",
            0o755,
        ),
    ]);
    let (status, body) = upload(&app, "application/zip", zip).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "uploaded");
    let files = body["files"].as_array().unwrap();
    assert_eq!(files.len(), 3, "the wrapping folder is unwrapped: {body}");
    assert!(
        files
            .iter()
            .any(|f| f["path"] == "{{ app }}/deploy.sh" && f["executable"] == true)
    );

    let targz = tar_gz(|b| {
        add_file(
            b,
            "./manifest.yaml",
            MANIFEST.replace("uploaded", "uploaded-tar").as_bytes(),
            0o644,
        );
        add_file(b, "./bin/tool", b"#!/bin/sh\n", 0o755);
    });
    let (status, body) = upload(&app, "application/gzip", targz).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["path"] == "bin/tool" && f["executable"] == true)
    );
    assert_eq!(git_log(&app, &app.editor.tenant_id).len(), 2);

    // An archive also replaces content on PUT.
    let id = body["id"].as_str().unwrap();
    let etag = body["current_commit"].as_str().unwrap();
    let next = tar_gz(|b| {
        add_file(
            b,
            "manifest.yaml",
            MANIFEST
                .replace("uploaded", "uploaded-tar")
                .replace("0.1.0", "0.2.0")
                .as_bytes(),
            0o644,
        )
    });
    let (status, body) = send(
        app.request(
            Method::PUT,
            &format!("/api/v1/templates/{id}"),
            Some(&app.editor.token),
        )
        .header("Content-Type", "application/x-tar+gzip")
        .header("If-Match", format!("\"{etag}\""))
        .body(next),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["file_count"], 1);
    assert_eq!(
        git_log(&app, &app.editor.tenant_id)[0].2,
        "Update uploaded-tar: 0.1.0 → 0.2.0 (2 files changed)"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn hostile_uploads_are_refused_and_leave_nothing_behind() {
    let app = TestApp::builder()
        .with(|s| {
            s.templates.max_file_bytes = 2 * 1024 * 1024;
            s.templates.max_total_bytes = 8 * 1024 * 1024;
            s.templates.max_upload_bytes = 4 * 1024 * 1024;
            s.templates.max_expansion_ratio = 20;
            s.templates.max_files = 20;
        })
        .spawn()
        .await;
    let manifest = MANIFEST.as_bytes();
    let zeros = vec![0u8; 1536 * 1024];
    let many: Vec<(String, Vec<u8>)> = (0..25)
        .map(|i| (format!("f{i}.txt"), b"x".to_vec()))
        .collect();
    let many: Vec<(&str, &[u8], u32)> = many
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice(), 0o644))
        .collect();
    let cases: Vec<(&str, &str, Vec<u8>, u16, &str)> = vec![
        (
            "zip traversal",
            "application/zip",
            zip_of(&[
                ("manifest.yaml", manifest, 0o644),
                ("../../evil.sh", b"x", 0o644),
            ]),
            422,
            "templates.unsafe_path",
        ),
        (
            "zip absolute",
            "application/zip",
            zip_of(&[
                ("manifest.yaml", manifest, 0o644),
                ("/etc/cron.d/x", b"x", 0o644),
            ]),
            422,
            "templates.unsafe_path",
        ),
        (
            "zip symlink",
            "application/zip",
            zip_with_symlink(),
            422,
            "templates.symlink_refused",
        ),
        (
            "tar traversal",
            "application/gzip",
            tar_gz(|b| {
                add_file(b, "manifest.yaml", manifest, 0o644);
                let mut h = tar::Header::new_gnu();
                h.set_size(1);
                h.set_mode(0o644);
                // Bypass the builder's own path check to write a hostile name.
                let name = b"../escape.txt";
                h.as_old_mut().name[..name.len()].copy_from_slice(name);
                h.set_cksum();
                b.append(&h, &b"x"[..]).unwrap();
            }),
            422,
            "templates.unsafe_path",
        ),
        (
            "tar symlink",
            "application/gzip",
            tar_gz(|b| {
                add_file(b, "manifest.yaml", manifest, 0o644);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                b.append_link(&mut h, "passwd", "/etc/passwd").unwrap();
            }),
            422,
            "templates.symlink_refused",
        ),
        (
            "tar hard link",
            "application/gzip",
            tar_gz(|b| {
                add_file(b, "manifest.yaml", manifest, 0o644);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, "shadow", "/etc/shadow").unwrap();
            }),
            422,
            "templates.symlink_refused",
        ),
        (
            "tar device",
            "application/gzip",
            tar_gz(|b| {
                add_file(b, "manifest.yaml", manifest, 0o644);
                let mut h = tar::Header::new_gnu();
                h.set_entry_type(tar::EntryType::Char);
                h.set_size(0);
                h.set_mode(0o644);
                b.append_data(&mut h, "null", std::io::empty()).unwrap();
            }),
            422,
            "templates.unsupported_entry",
        ),
        (
            "oversized file",
            "application/zip",
            zip_of(&[
                ("manifest.yaml", manifest, 0o644),
                ("big.bin", &vec![7u8; 3 * 1024 * 1024], 0o644),
            ]),
            413,
            "templates.file_too_large",
        ),
        (
            "too many files",
            "application/zip",
            zip_of(&many),
            413,
            "templates.too_many_files",
        ),
        (
            "zip bomb",
            "application/zip",
            zip_of(&[
                ("manifest.yaml", manifest, 0o644),
                ("a", &zeros, 0o644),
                ("b", &zeros, 0o644),
                ("c", &zeros, 0o644),
                ("d", &zeros, 0o644),
                ("e", &zeros, 0o644),
                ("f", &zeros, 0o644),
            ]),
            413,
            "templates.archive_expansion_exceeded",
        ),
        (
            "gzip bomb",
            "application/gzip",
            tar_gz(|b| {
                add_file(b, "manifest.yaml", manifest, 0o644);
                for i in 0..6 {
                    add_file(b, &format!("z{i}"), &zeros, 0o644);
                }
            }),
            413,
            "templates.archive_expansion_exceeded",
        ),
        (
            "upload over the body limit",
            "application/zip",
            vec![0u8; 5 * 1024 * 1024],
            413,
            "templates.upload_too_large",
        ),
        (
            "not a zip",
            "application/zip",
            b"PK but not really".to_vec(),
            400,
            "templates.invalid_archive",
        ),
    ];
    for (label, content_type, body, status, code) in cases {
        let (got, problem) = upload(&app, content_type, body).await;
        assert_eq!(got.as_u16(), status, "{label}: {problem}");
        assert_eq!(problem["code"], code, "{label}: {problem}");
        assert!(
            !problem["detail"].as_str().unwrap_or_default().is_empty(),
            "{label}"
        );
    }

    // The same through JSON: traversal, absolute, NUL (refused at the edge, like every NUL in
    // text input), over-long names, `.git`, a too-large file.
    let long = "a".repeat(300);
    for (path, status, code) in [
        ("../x", 422u16, "templates.unsafe_path"),
        ("/abs", 422, "templates.unsafe_path"),
        ("a\u{0}b", 422, "request.nul_in_body"),
        (long.as_str(), 422, "templates.unsafe_path"),
        ("ok/../../x", 422, "templates.unsafe_path"),
        (".git/config", 422, "templates.unsafe_path"),
        (
            "sub/GIT~1/hooks/post-checkout",
            422,
            "templates.unsafe_path",
        ),
    ] {
        let body = json!({"manifest": {"name": "json-upload", "version": "1.0.0", "description": "d", "category": "qa_engineer", "author": "a"}, "files": {path: "x"}});
        let (got, problem) = app
            .post("/api/v1/templates", Some(&app.editor.token), &body)
            .await;
        assert_eq!(got.as_u16(), status, "{path:?}: {problem}");
        assert_eq!(problem["code"], code, "{problem}");
    }
    let body = json!({"manifest": {"name": "json-upload", "version": "1.0.0", "description": "d", "category": "qa_engineer", "author": "a"}, "files": {"big.txt": "x".repeat(2 * 1024 * 1024 + 10)}});
    let (got, problem) = app
        .post("/api/v1/templates", Some(&app.editor.token), &body)
        .await;
    assert_eq!(got, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("templates.max_file_bytes"),
        "{problem}"
    );

    // Nothing behind: no rows, no commits, no objects.
    assert_eq!(total(&app, &app.viewer.token).await, 0);
    assert!(git_log(&app, &app.editor.tenant_id).is_empty());
    assert_eq!(object_count(&repo_path(&app, &app.editor.tenant_id)), 0);

    // And an update that is refused leaves the template as it was.
    let (status, created) = upload(
        &app,
        "application/zip",
        zip_of(&[("manifest.yaml", manifest, 0o644)]),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let etag = created["current_commit"].as_str().unwrap();
    let (status, _) = send(
        app.request(
            Method::PUT,
            &format!("/api/v1/templates/{id}"),
            Some(&app.editor.token),
        )
        .header("Content-Type", "application/zip")
        .header("If-Match", format!("\"{etag}\""))
        .body(zip_of(&[
            ("manifest.yaml", manifest, 0o644),
            ("../up.txt", b"x", 0o644),
        ])),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(git_log(&app, &app.editor.tenant_id).len(), 1);
    let (_, now) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(now["current_commit"], etag);
    app.shutdown().await;
}

/// Two zip entries with one name (the zip writer refuses that, so rename the second in both
/// headers).
fn zip_with_duplicate(name: &str) -> Vec<u8> {
    let other = "z".repeat(name.len());
    let mut bytes = zip_of(&[
        ("manifest.yaml", MANIFEST.as_bytes(), 0o644),
        (name, b"first", 0o644),
        (other.as_str(), b"second", 0o644),
    ]);
    let mut replaced = 0;
    for i in 0..bytes.len() - other.len() {
        if bytes[i..i + other.len()] == *other.as_bytes() {
            bytes[i..i + other.len()].copy_from_slice(name.as_bytes());
            replaced += 1;
        }
    }
    assert_eq!(replaced, 2, "local and central header");
    bytes
}

#[tokio::test]
async fn git_paths_and_duplicate_entries_are_refused_with_nothing_written() {
    let app = TestApp::spawn().await;
    let manifest = MANIFEST.as_bytes();
    // A template exists, so the repository has objects and a branch to compare with.
    let (status, created) = upload(
        &app,
        "application/zip",
        zip_of(&[("manifest.yaml", manifest, 0o644), ("a.txt", b"a", 0o644)]),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let etag = created["current_commit"].as_str().unwrap().to_string();
    let repo = repo_path(&app, &app.editor.tenant_id);
    let objects_before = object_count(&repo);
    assert!(objects_before > 0);

    let git_names = [
        ".git/config",
        ".GIT/hooks/pre-commit",
        "src/.Git/HEAD",
        ".git./x",
        ".git /x",
        "git~1/config",
        "Git~1/config",
        ".git::$INDEX_ALLOCATION/x",
        ".g\u{200c}it/x",
        ".gitmodules",
        "lib/.GITMODULES",
        ".gitmodules ",
        "gitmod~1",
    ];
    for name in git_names {
        let zip = zip_of(&[("manifest.yaml", manifest, 0o644), (name, b"x", 0o644)]);
        let tar = tar_gz(|b| {
            add_file(b, "manifest.yaml", manifest, 0o644);
            add_file(b, name, b"x", 0o644);
        });
        for (kind, content_type, body) in [
            ("zip", "application/zip", zip),
            ("tar", "application/gzip", tar),
        ] {
            let (status, problem) = upload(&app, content_type, body.clone()).await;
            assert_eq!(status, 422, "{kind} {name:?}: {problem}");
            assert_eq!(problem["code"], "templates.unsafe_path", "{kind} {name:?}");
            // And as an update of the existing template.
            let (status, problem) = send(
                app.request(
                    Method::PUT,
                    &format!("/api/v1/templates/{id}"),
                    Some(&app.editor.token),
                )
                .header("Content-Type", content_type)
                .header("If-Match", format!("\"{etag}\""))
                .body(body),
            )
            .await;
            assert_eq!(status, 422, "update {kind} {name:?}: {problem}");
            assert_eq!(problem["code"], "templates.unsafe_path");
        }
        let json_body = json!({"manifest": {"name": "git-json", "version": "1.0.0", "description": "d", "category": "qa_engineer", "author": "a"}, "files": {name: "x"}});
        let (status, problem) = app
            .post("/api/v1/templates", Some(&app.editor.token), &json_body)
            .await;
        assert_eq!(status, 422, "json {name:?}: {problem}");
        assert_eq!(problem["code"], "templates.unsafe_path");
    }
    assert_eq!(object_count(&repo), objects_before, "no dangling objects");
    assert_eq!(git_log(&app, &app.editor.tenant_id).len(), 1);

    // Names that only look similar are ordinary files.
    let (status, body) = upload(
        &app,
        "application/zip",
        zip_of(&[
            ("manifest.yaml", b"name: lookalikes\nversion: 0.1.0\ndescription: Uploaded as an archive\ncategory: devops_engineer\nauthor: Test Team\n", 0o644),
            (".gitignore", b"target/\n", 0o644),
            (".github/workflows/ci.yml", b"on: push\n", 0o644),
            ("docs/git/notes.md", b"x", 0o644),
        ]),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let objects_with_lookalikes = object_count(&repo);

    // Duplicate entries: the same name twice, or names equal after normalisation.
    let dup_tar = tar_gz(|b| {
        add_file(b, "manifest.yaml", manifest, 0o644);
        add_file(b, "dup.txt", b"first", 0o644);
        add_file(b, "./dup.txt", b"second", 0o644);
    });
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "zip, same name",
            "application/zip",
            zip_with_duplicate("dup.txt"),
            "dup.txt",
        ),
        (
            "zip, ./ prefix",
            "application/zip",
            zip_of(&[
                ("manifest.yaml", manifest, 0o644),
                ("d/dup.txt", b"first", 0o644),
                ("./d/dup.txt", b"second", 0o644),
            ]),
            "d/dup.txt",
        ),
        ("tar", "application/gzip", dup_tar, "dup.txt"),
    ];
    for (label, content_type, body, path) in cases {
        let (status, problem) = upload(&app, content_type, body).await;
        assert_eq!(status, 422, "{label}: {problem}");
        assert_eq!(problem["code"], "templates.duplicate_path", "{label}");
        assert!(
            problem["detail"].as_str().unwrap().contains(path),
            "{label}: {problem}"
        );
    }
    let json_body = json!({"manifest": {"name": "dup-json", "version": "1.0.0", "description": "d", "category": "qa_engineer", "author": "a"}, "files": {"x.txt": "1", "./x.txt": "2"}});
    let (status, problem) = app
        .post("/api/v1/templates", Some(&app.editor.token), &json_body)
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "templates.duplicate_path");

    // NUL inside a manifest that arrives as a file is refused like any other NUL.
    let (status, problem) = upload(
        &app,
        "application/zip",
        zip_of(&[(
            "manifest.yaml",
            b"name: nul-in-file\nversion: 0.1.0\ndescription: \"nul\\0description\"\ncategory: devops_engineer\nauthor: a\n",
            0o644,
        )]),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "templates.invalid_template", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("NUL"),
        "{problem}"
    );
    assert_eq!(
        problem["errors"][0]["field"], "manifest.yaml:description",
        "{problem}"
    );

    // Nothing behind: two templates, no other commit, no new object.
    assert_eq!(total(&app, &app.viewer.token).await, 2);
    assert_eq!(git_log(&app, &app.editor.tenant_id).len(), 2);
    assert_eq!(object_count(&repo), objects_with_lookalikes);

    // A rendered name cannot reach `.git` either: instantiation output is checked the same way.
    let (status, rendered) = app
        .post(
            "/api/v1/templates",
            Some(&app.editor.token),
            &json!({
                "manifest": {"name": "rendered-dirs", "version": "1.0.0", "description": "d", "category": "qa_engineer", "author": "a",
                             "parameters": [{"name": "dir", "type": "string", "default": "src"}]},
                "files": {"{{ dir }}/hook.sh": "echo hi\n"}
            }),
        )
        .await;
    assert_eq!(status, 201, "{rendered}");
    let rendered_id = rendered["id"].as_str().unwrap();
    let url = format!("/api/v1/templates/{rendered_id}/instantiate");
    let instantiate = |dir: &str| {
        let body = json!({"parameters": {"dir": dir}, "format": "json"});
        send(
            app.request(Method::POST, &url, Some(&app.editor.token))
                .json(&body),
        )
    };
    for dir in [".git/hooks", "GIT~1", ".Git."] {
        let (status, problem) = instantiate(dir).await;
        assert_eq!(status, 422, "{dir}: {problem}");
        assert_eq!(problem["code"], "templates.unsafe_path", "{dir}: {problem}");
    }
    let (status, output) = instantiate("tools").await;
    assert_eq!(status, 200, "{output}");
    let (_, ledger) = app
        .get(
            &format!("/api/v1/templates/{rendered_id}/instantiations"),
            Some(&app.viewer.token),
        )
        .await;
    assert_eq!(
        ledger["total"], 1,
        "only the good one is recorded: {ledger}"
    );
    let (_, now) = app
        .get(&format!("/api/v1/templates/{id}"), Some(&app.viewer.token))
        .await;
    assert_eq!(now["current_commit"], etag.as_str());
    app.shutdown().await;
}

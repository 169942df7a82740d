//! The cookiecutter fixtures (goldens from cookiecutter 2.7.1, frozen time) through the whole
//! registry: uploaded as a .tar.gz, stored in git, instantiated over HTTP as a .tar.gz; every file
//! must come out byte-identical with the same executable bit. (`tests/cookiecutter_compat.rs`
//! checks the engine alone, and against a live cookiecutter when one is installed.)

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, repo_root, send};

const CASES: &[&str] = &[
    "basic",
    "binary_files",
    "copy_without_render",
    "crlf_newlines",
    "empty_folder",
    "empty_names",
    "executable",
    "extensions_ok",
    "hooks_ignored",
    "includes",
    "jinja_env_vars",
    "jsonify",
    "nested_default",
    "nested_template_list",
    "nested_templates",
    "new_lines_setting",
    "now_time",
    "path_keys",
    "private_overrides",
    "python_methods",
    "random_uuid",
    "slugify",
];

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/cookiecutter")
}

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}").unwrap()
});
static RANDOM: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"⟦([^⟧]*)⟧").unwrap());
static PATH_KEYS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#""(_template|_output_dir|_repo_dir|_checkout)": (null|"(?:[^"\\]|\\.)*")"#)
        .unwrap()
});

/// uuid4 and random_ascii_string values cannot match Python's generator, and cookiecutter puts
/// local paths in a few context keys: compare those by shape (as the engine test does).
fn mask(bytes: &[u8]) -> Vec<u8> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return bytes.to_vec();
    };
    let text = UUID.replace_all(text, "<uuid4>");
    let text = RANDOM.replace_all(&text, |c: &regex::Captures| {
        format!("⟦{}⟧", c[1].chars().count())
    });
    PATH_KEYS
        .replace_all(&text, "\"$1\": <local path>")
        .into_owned()
        .into_bytes()
}

fn tar_of_folder(root: &Path, manifest: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "manifest.yaml", manifest.as_bytes())
        .unwrap();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let content = std::fs::read(&path).unwrap();
            #[cfg(unix)]
            let mode = {
                use std::os::unix::fs::PermissionsExt;
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777
            };
            #[cfg(not(unix))]
            let mode = 0o644;
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(mode);
            b.append_data(&mut h, rel, &content[..]).unwrap();
        }
    }
    b.into_inner().unwrap().finish().unwrap()
}

#[tokio::test]
async fn cookiecutter_goldens_survive_upload_storage_and_instantiation_byte_for_byte() {
    let app = TestApp::spawn().await;
    let meta: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("meta.json")).unwrap()).unwrap();
    let frozen = meta["frozen_time"].as_str().unwrap();
    for case in CASES {
        let dir = fixtures().join(case);
        let name = format!("cc-{}", case.replace('_', "-"));
        let manifest = format!(
            "name: {name}\nversion: 1.0.0\ndescription: Cookiecutter fixture {case}\ncategory: backend_developer\nauthor: Fixtures\n"
        );
        let (status, created) = send(
            app.request(Method::POST, "/api/v1/templates", Some(&app.editor.token))
                .header("Content-Type", "application/gzip")
                .body(tar_of_folder(&dir.join("template"), &manifest)),
        )
        .await;
        assert_eq!(status, 201, "{case}: {created}");
        assert_eq!(created["format"], "cookiecutter", "{case}");
        let id = created["id"].as_str().unwrap();
        let mut parameters: Value = std::fs::read(dir.join("extra_context.json"))
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap_or_else(|_| json!({}));
        let case_json: Value = std::fs::read(dir.join("case.json"))
            .map(|b| serde_json::from_slice(&b).unwrap())
            .unwrap_or(Value::Null);
        if let Some(choice) = case_json.get("nested_choice") {
            // The answer to cookiecutter's nested-template prompt is the `templates` parameter.
            parameters["templates"] = choice.clone();
        }
        let res = app
            .request(
                Method::POST,
                &format!("/api/v1/templates/{id}/instantiate"),
                Some(&app.viewer.token),
            )
            .json(&json!({"format": "tar.gz", "parameters": parameters, "now": frozen, "seed": 7}))
            .send()
            .await
            .unwrap();
        if case_json.get("cookiecutter_error").is_some() {
            // cookiecutter refuses this template; so does Maestro, saying why.
            let status = res.status();
            let problem: Value = res.json().await.unwrap();
            assert_eq!(status, 422, "{case}: {problem}");
            assert_eq!(
                problem["code"], "templates.render_failed",
                "{case}: {problem}"
            );
            let want = case_json["maestro_error"].as_str().unwrap();
            assert!(
                problem["detail"].as_str().unwrap().contains(want),
                "{case}: {problem}"
            );
            continue;
        }
        assert_eq!(
            res.status(),
            200,
            "{case}: {}",
            res.text().await.unwrap_or_default()
        );
        let bytes = res.bytes().await.unwrap();
        let mut got: BTreeMap<String, (Vec<u8>, bool)> = BTreeMap::new();
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            if entry.header().entry_type() == tar::EntryType::Directory {
                dirs.insert(path);
                continue;
            }
            let executable = entry.header().mode().unwrap() & 0o100 != 0;
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            got.insert(path, (content, executable));
        }

        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        let want: BTreeSet<&str> = expected["files"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let have: BTreeSet<&str> = got.keys().map(String::as_str).collect();
        assert_eq!(have, want, "{case}: file set");
        for (path, info) in expected["files"].as_object().unwrap() {
            let golden = std::fs::read(dir.join("expected").join(path)).unwrap();
            let (content, executable) = &got[path];
            // `exact_paths` cases set cookiecutter's path keys in the request: compared unmasked.
            let same = if case_json.get("exact_paths").is_some() {
                *content == golden
            } else {
                mask(content) == mask(&golden)
            };
            assert!(
                same,
                "{case}: {path} differs:\n{:?}\n{:?}",
                String::from_utf8_lossy(content),
                String::from_utf8_lossy(&golden)
            );
            assert_eq!(
                *executable,
                info["executable"].as_bool().unwrap(),
                "{case}: {path} mode"
            );
        }
        let empty: BTreeSet<String> = expected["empty_dirs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_string())
            .collect();
        assert_eq!(dirs, empty, "{case}: empty folders");
    }
    app.shutdown().await;
}

//! `maestro project update` / `status` against a spawned server: the update applied to a git
//! checkout, and a conflict left as markers with exit code 1.

use super::*;

fn maestro(dir: &Path, token: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(crate::helpers::maestro_bin())
        .args(args)
        .current_dir(dir)
        .env("MAESTRO_TOKEN", token)
        .env_remove("MAESTRO_SERVER")
        .output()
        .expect("maestro runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn maestro_project_update_applies_the_update_to_a_git_checkout() {
    let app = TestApp::spawn().await;
    let (id, v1_commit, dir, _) = generate_and_edit(&app, "update-cli").await;
    let token = app.viewer.token.clone();
    let path = dir.path().to_str().unwrap().to_string();
    // The answers file names the server: no --server needed.
    let (code, out, err) = maestro(dir.path(), &token, &["project", "status", &path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("update-cli 1.0.0") && out.contains("up to date"),
        "{out}"
    );
    let v2_commit = publish_v2(&app, &id, &v1_commit, "update-cli").await;
    let (code, out, err) = maestro(dir.path(), &token, &["project", "status", &path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 version behind") && out.contains(&v2_commit[..7]),
        "{out}"
    );

    // A dirty tree is refused; a dry run changes nothing.
    std::fs::write(dir.path().join("extra.py"), "print('dirty')\n").unwrap();
    let (code, out, err) = maestro(
        dir.path(),
        &token,
        &["project", "update", &path, "--server", &app.address],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("uncommitted changes"), "{err}");
    git(dir.path(), &["checkout", "--", "extra.py"]);
    let before = read_tree(dir.path());
    let (code, out, err) = maestro(
        dir.path(),
        &token,
        &["project", "update", "--dry-run", &path],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("rename  config/settings.txt -> config/app.conf"),
        "{out}"
    );
    assert_eq!(read_tree(dir.path()), before);

    // The update, with a changed answer.
    let (code, out, err) = maestro(
        dir.path(),
        &token,
        &[
            "project",
            "update",
            &path,
            "--server",
            &app.address,
            "--set",
            "log_level=debug",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1.0.0") && out.contains("2.0.0") && out.contains("0 conflicts"),
        "{out}"
    );
    let merged = read_tree(dir.path());
    assert!(text(&merged, "app.py").starts_with("# shop: the service (ours)\n"));
    assert!(text(&merged, "app.py").contains("LOG_LEVEL = \"debug\""));
    assert_eq!(
        text(&merged, "Makefile"),
        "run:\n\tLOG_LEVEL=debug ./run.sh\n"
    );
    assert!(!merged.contains_key("config/settings.txt") && merged.contains_key("config/app.conf"));
    assert!(text(&merged, ".maestro-answers.yml").contains(&v2_commit));
    let (code, out, _) = maestro(dir.path(), &token, &["project", "status", &path]);
    assert_eq!(code, 0);
    assert!(out.contains("up to date"), "{out}");
    assert_eq!(behind(&app, &id).await["total"], 0);

    // `maestro login` instead of MAESTRO_TOKEN: the stored sign-in is refreshed on use.
    let creds = dir.path().join(".git/credentials.json");
    let client = |args: &[&str], password: Option<&str>| {
        let mut cmd = Command::new(crate::helpers::maestro_bin());
        cmd.args(args)
            .env_remove("MAESTRO_TOKEN")
            .env_remove("MAESTRO_SERVER")
            .env("MAESTRO_CREDENTIALS", &creds);
        if let Some(p) = password {
            cmd.env("MAESTRO_PASSWORD", p);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + String::from_utf8_lossy(&out.stderr).as_ref(),
        )
    };
    let (code, out) = client(&["project", "status", &path], None);
    assert_eq!(code, 2, "without a token the server refuses: {out}");
    let (code, out) = client(
        &[
            "login",
            "--server",
            &app.address,
            "--email",
            &app.viewer.email,
        ],
        Some(&app.viewer.password),
    );
    assert_eq!(code, 0, "{out}");
    for _ in 0..2 {
        let (code, out) = client(&["project", "status", &path], None);
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("up to date"), "{out}");
    }
}

/// Through the CLI a conflict leaves both sides in the file and exits 1.
#[tokio::test]
async fn maestro_project_update_leaves_conflict_markers_and_exits_1() {
    let app = TestApp::spawn().await;
    let (_, _, dir) = generate_conflicting_edit(&app, "update-cli-conflict").await;
    let app_py = dir.path().join("app.py");
    let path = dir.path().to_str().unwrap().to_string();
    let (code, out, err) = maestro(dir.path(), &app.viewer.token, &["project", "update", &path]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("conflict app.py") && out.contains("1 conflicts"),
        "{out}"
    );
    let merged = std::fs::read_to_string(&app_py).unwrap();
    assert!(
        merged.contains("<<<<<<< ours\n    main()  # ours\n")
            && merged.contains("=======\n    main()  # entry point\n>>>>>>> theirs\n"),
        "{merged}"
    );
    assert!(
        dir.path().join("Makefile").exists(),
        "the clean changes are applied"
    );
}

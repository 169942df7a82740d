//! Which git remotes a tenant may point Maestro at — one rule for every module that fetches from
//! or pushes to a URL a tenant supplies (template sync, the healing module's repositories).
//!
//! - `https://host/…`, `ssh://[user@]host/…` and scp-style `user@host:path` are accepted.
//! - `http://` and `git://` (unencrypted, unauthenticated) and every other transport (`ext::`,
//!   `fd::`, …) are refused.
//! - Local repositories (`file:///…` or an absolute path) only when the operator allow-lists a
//!   directory that holds them; the path is resolved (symlinks and `..` followed) and must exist
//!   inside an allow-listed directory and never inside Maestro's own data directory, where every
//!   tenant's repository lives — whatever the allow-list says.
//!
//! [`check_remote`] is called when a remote is stored *and* again right before it is used, so a
//! symlink swapped in later, or an allow-list an operator narrowed, is honoured. For a local
//! remote, git is handed the resolved path, not the string the tenant sent.

use std::path::{Path, PathBuf};

/// Longest accepted remote URL.
pub const MAX_REMOTE_URL_LEN: usize = 2048;

/// The directories an operator allow-listed for local remotes, and the setting that lists them
/// (named in refusals so the operator knows what to change).
#[derive(Debug, Clone, Copy)]
pub struct LocalAllowList<'a> {
    pub dirs: &'a [PathBuf],
    pub setting: &'static str,
}

/// A remote that passed [`check_remote`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRemote {
    /// What to hand to git (for a local remote: the resolved absolute path).
    pub url: String,
    pub kind: RemoteKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteKind {
    Https,
    Ssh,
    /// An allow-listed local repository (resolved path).
    Local(PathBuf),
}

/// Why a remote was refused. `Display` is the message for the `url` field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error("is empty")]
    Empty,
    #[error("is longer than {MAX_REMOTE_URL_LEN} characters")]
    TooLong,
    #[error("must not contain spaces or control characters")]
    BadCharacters,
    #[error("must not start with '-'")]
    LeadingDash,
    #[error("is not a valid URL: {0}")]
    Malformed(String),
    #[error("uses `{0}://`, which Maestro does not allow; use https://, ssh:// or user@host:path")]
    SchemeNotAllowed(String),
    #[error("names no host")]
    NoHost,
    #[error("names a host or user starting with '-'")]
    DashHost,
    #[error(
        "is a local path, and local remotes are off; an operator can allow-list directories with {setting} (use https:// or ssh:// otherwise)"
    )]
    LocalNotAllowed { setting: &'static str },
    #[error("is a local path that does not exist (or is not a directory): {0}")]
    LocalMissing(String),
    #[error("resolves to {path}, which is not inside a directory allow-listed in {setting}")]
    OutsideAllowList { path: String, setting: &'static str },
    #[error("resolves to {0}, inside Maestro's data directory; remotes can never point there")]
    InsideDataDir(String),
    #[error(
        "is neither https://host/…, ssh://host/…, user@host:path, file:///path nor an absolute path"
    )]
    Unrecognised,
}

/// `url` with its credentials replaced by `[redacted]`, for storing beside the sealed original
/// (`platform::sealed`) and for showing: the password, and for https a user name without a
/// password (a token given as the user). `None` when it holds no credentials (an ssh user such as
/// `git` is not one).
pub fn redact_credentials(url: &str) -> Option<String> {
    // `url` percent-encodes brackets in the user part: a bare marker goes in, and is bracketed
    // in the text (it cannot occur there otherwise: it replaced the whole user part).
    const MARKER: &str = "redacted";
    let mut parsed = url::Url::parse(url).ok()?;
    let (spliced, shown) = if parsed.password().is_some() {
        parsed.set_password(Some(MARKER)).ok()?;
        (format!(":{MARKER}@"), ":[redacted]@")
    } else if parsed.scheme() == "https" && !parsed.username().is_empty() {
        parsed.set_username(MARKER).ok()?;
        (format!("://{MARKER}@"), "://[redacted]@")
    } else {
        return None;
    };
    Some(parsed.to_string().replacen(&spliced, shown, 1))
}

/// `url` as answers and logs show it: [`redact_credentials`]'s form, or `url` when it holds no
/// credentials.
pub fn shown(url: &str) -> String {
    redact_credentials(url).unwrap_or_else(|| url.to_string())
}

/// Checks a remote a tenant supplied; see the module documentation for the rules.
///
/// `local` lists the operator's allow-listed directories (empty: no local remotes); `data_dir` is
/// Maestro's data directory. Touches the file system only for local remotes
/// (to resolve the path), so call it on the blocking pool when that matters.
pub fn check_remote(
    raw: &str,
    local: &LocalAllowList<'_>,
    data_dir: &Path,
) -> Result<CheckedRemote, RemoteError> {
    let url = raw.trim();
    if url.is_empty() {
        return Err(RemoteError::Empty);
    }
    if url.len() > MAX_REMOTE_URL_LEN {
        return Err(RemoteError::TooLong);
    }
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(RemoteError::BadCharacters);
    }
    if url.starts_with('-') {
        return Err(RemoteError::LeadingDash);
    }
    if let Some((scheme, _)) = url.split_once("://") {
        let scheme = scheme.to_ascii_lowercase();
        let parsed = url::Url::parse(url).map_err(|e| RemoteError::Malformed(e.to_string()))?;
        return match scheme.as_str() {
            "https" | "ssh" | "git+ssh" | "ssh+git" => {
                let host = parsed.host_str().unwrap_or_default();
                if host.is_empty() {
                    return Err(RemoteError::NoHost);
                }
                if host.starts_with('-') || parsed.username().starts_with('-') {
                    return Err(RemoteError::DashHost);
                }
                Ok(CheckedRemote {
                    url: url.to_string(),
                    kind: if scheme == "https" {
                        RemoteKind::Https
                    } else {
                        RemoteKind::Ssh
                    },
                })
            }
            "file" => {
                if !matches!(parsed.host_str(), None | Some("") | Some("localhost")) {
                    return Err(RemoteError::Malformed(
                        "file:// URLs must not name a host".into(),
                    ));
                }
                let path = parsed.to_file_path().map_err(|()| {
                    RemoteError::Malformed("the file:// URL is not an absolute path".into())
                })?;
                check_local(&path, local, data_dir)
            }
            other => Err(RemoteError::SchemeNotAllowed(other.to_string())),
        };
    }
    if url.starts_with('/') {
        return check_local(Path::new(url), local, data_dir);
    }
    // scp-like: user@host:path (git treats a ':' before any '/' this way).
    if let Some((user_host, path)) = url.split_once(':')
        && let Some((user, host)) = user_host.split_once('@')
        && !path.is_empty()
        && !user_host.contains('/')
    {
        if host.is_empty() || user.is_empty() {
            return Err(RemoteError::NoHost);
        }
        if host.starts_with('-') || user.starts_with('-') || path.starts_with('-') {
            return Err(RemoteError::DashHost);
        }
        return Ok(CheckedRemote {
            url: url.to_string(),
            kind: RemoteKind::Ssh,
        });
    }
    Err(RemoteError::Unrecognised)
}

fn check_local(
    path: &Path,
    local: &LocalAllowList<'_>,
    data_dir: &Path,
) -> Result<CheckedRemote, RemoteError> {
    if local.dirs.is_empty() {
        return Err(RemoteError::LocalNotAllowed {
            setting: local.setting,
        });
    }
    let shown = || path.display().to_string();
    let resolved = path
        .canonicalize()
        .map_err(|_| RemoteError::LocalMissing(shown()))?;
    if !resolved.is_dir() {
        return Err(RemoteError::LocalMissing(shown()));
    }
    let resolved_shown = resolved.display().to_string();
    // The data directory wins over any allow-list entry. It may not exist yet (first start):
    // then nothing can be inside it, but compare the lexical form as well to be safe.
    let data_dirs: Vec<PathBuf> = [data_dir.canonicalize().ok(), absolute(data_dir)]
        .into_iter()
        .flatten()
        .collect();
    // git also opens `<path>/.git` and `<path>.git`: none of them may lead into the data dir.
    let mut candidates = vec![resolved.clone()];
    let mut dotted = resolved.clone().into_os_string();
    dotted.push(".git");
    for extra in [PathBuf::from(dotted), resolved.join(".git")] {
        if let Ok(p) = extra.canonicalize() {
            candidates.push(p);
        }
    }
    if let Some(inside) = candidates
        .iter()
        .find(|c| data_dirs.iter().any(|d| c.starts_with(d)))
    {
        return Err(RemoteError::InsideDataDir(inside.display().to_string()));
    }
    let inside_allowed = local.dirs.iter().any(|dir| {
        dir.canonicalize()
            .is_ok_and(|allowed| resolved.starts_with(&allowed))
    });
    if !inside_allowed {
        return Err(RemoteError::OutsideAllowList {
            path: resolved_shown,
            setting: local.setting,
        });
    }
    Ok(CheckedRemote {
        url: resolved_shown,
        kind: RemoteKind::Local(resolved),
    })
}

/// `path` made absolute against the working directory, `..` and `.` removed lexically.
fn absolute(path: &Path) -> Option<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTING: &str = "x.allowed_dirs";

    /// `check_remote` with a plain list of directories.
    fn check(raw: &str, dirs: &[PathBuf], data: &Path) -> Result<CheckedRemote, RemoteError> {
        check_remote(
            raw,
            &LocalAllowList {
                dirs,
                setting: SETTING,
            },
            data,
        )
    }

    fn no_local() -> (Vec<PathBuf>, PathBuf) {
        (Vec::new(), PathBuf::from("/nonexistent/maestro-data"))
    }

    #[test]
    fn network_remotes_need_https_or_ssh() {
        let (allow, data) = no_local();
        for ok in [
            "https://github.com/acme/templates.git",
            "https://bob:s3cret@git.example.com/t.git",
            "ssh://git@example.com/acme/t.git",
            "ssh://example.com:2222/t.git",
            "git@github.com:acme/templates.git",
        ] {
            assert!(check(ok, &allow, &data).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", RemoteError::Empty),
            ("-uupload-pack=evil", RemoteError::LeadingDash),
            ("ext::sh -c evil", RemoteError::BadCharacters),
            ("ext::sh", RemoteError::Unrecognised),
            (
                "http://example.com/t.git",
                RemoteError::SchemeNotAllowed("http".into()),
            ),
            (
                "git://example.com/t.git",
                RemoteError::SchemeNotAllowed("git".into()),
            ),
            ("ftp://x/y", RemoteError::SchemeNotAllowed("ftp".into())),
            ("relative/path", RemoteError::Unrecognised),
            ("ssh://-oProxyCommand=evil/x", RemoteError::DashHost),
            ("git@-oProxyCommand=evil:x", RemoteError::DashHost),
            ("a b", RemoteError::BadCharacters),
        ] {
            assert_eq!(check(bad, &allow, &data), Err(why), "{bad}");
        }
    }

    #[test]
    fn local_remotes_are_off_unless_allow_listed() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("shared.git");
        std::fs::create_dir_all(&repo).unwrap();
        let (none, data) = no_local();
        for url in [
            format!("file://{}", repo.display()),
            repo.display().to_string(),
        ] {
            assert_eq!(
                check(&url, &none, &data),
                Err(RemoteError::LocalNotAllowed { setting: SETTING }),
                "{url}"
            );
            let checked = check(&url, &[dir.path().to_path_buf()], &data).unwrap();
            assert_eq!(
                checked.url,
                repo.canonicalize().unwrap().display().to_string()
            );
        }
        // Outside the allow-list, also through `..`, and paths that do not exist.
        let other = tempfile::tempdir().unwrap();
        let allow = vec![dir.path().join("sub")];
        std::fs::create_dir_all(&allow[0]).unwrap();
        let sneaky = format!("{}/sub/../shared.git", dir.path().display());
        assert!(matches!(
            check(&sneaky, &allow, &data),
            Err(RemoteError::OutsideAllowList { .. })
        ));
        assert!(matches!(
            check(&other.path().display().to_string(), &allow, &data),
            Err(RemoteError::OutsideAllowList { .. })
        ));
        assert!(matches!(
            check("/definitely/not/here", &allow, &data),
            Err(RemoteError::LocalMissing(_))
        ));
        assert!(check("file://otherhost/x", &allow, &data).is_err());
    }

    #[test]
    fn the_data_directory_is_never_a_remote_even_when_allow_listed_or_symlinked() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let victim = data.join("git").join("tenant-b");
        std::fs::create_dir_all(&victim).unwrap();
        let allow = vec![root.path().to_path_buf()];
        assert!(matches!(
            check(&victim.display().to_string(), &allow, &data),
            Err(RemoteError::InsideDataDir(_))
        ));
        assert!(matches!(
            check(&data.display().to_string(), &allow, &data),
            Err(RemoteError::InsideDataDir(_))
        ));
        // A symlink from an allow-listed place into the data directory.
        let shared = root.path().join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        let link = shared.join("looks-innocent.git");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(matches!(
            check(
                &format!("file://{}", link.display()),
                std::slice::from_ref(&shared),
                &data
            ),
            Err(RemoteError::InsideDataDir(_))
        ));
        // `<path>/.git` pointing into the data directory.
        let wrapper = shared.join("wrapper");
        std::fs::create_dir_all(&wrapper).unwrap();
        std::os::unix::fs::symlink(&victim, wrapper.join(".git")).unwrap();
        assert!(matches!(
            check(
                &wrapper.display().to_string(),
                std::slice::from_ref(&shared),
                &data
            ),
            Err(RemoteError::InsideDataDir(_))
        ));
        // A relative data directory is compared in its absolute form.
        let cwd_relative = Path::new("data-that-does-not-exist-yet");
        assert!(
            check(
                &shared.display().to_string(),
                std::slice::from_ref(&shared),
                cwd_relative
            )
            .is_ok()
        );
    }

    #[test]
    fn credentials_are_redacted_and_other_urls_are_left_alone() {
        let cases = [
            (
                "https://bob:s3cret@git.example.com/t.git",
                Some("https://bob:[redacted]@git.example.com/t.git"),
            ),
            (
                "https://ghp_token@github.com/o/r.git",
                Some("https://[redacted]@github.com/o/r.git"),
            ),
            (
                "ssh://git:pw@host/r.git",
                Some("ssh://git:[redacted]@host/r.git"),
            ),
            ("ssh://git@host/r.git", None),
            ("https://github.com/o/r.git", None),
            ("git@github.com:o/r.git", None),
            ("/srv/git/r.git", None),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_credentials(url).as_deref(), shown, "{url}");
        }
    }
}

//! What a simulated container does, registered by the test per image (and optionally command):
//! log lines over time, waits on gates the test opens, readiness, exit code and termination
//! message; or an image that cannot be pulled, a crash, a container config error.

use std::time::Duration;

/// One step of a container's life after it started.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Writes a line to the container log (stdout).
    Log(String),
    /// Lets tokio time pass.
    Sleep(Duration),
    /// Waits until the test opens the gate (`FakeCluster::open_gate`).
    WaitGate(String),
    /// Readiness probe starts passing (true) or failing (false).
    Ready(bool),
    /// Exits: code and termination message.
    Exit(i32, Option<String>),
}

/// How a container behaves. Without an `Exit` step it runs until its pod is deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub(crate) steps: Vec<Step>,
    /// Time spent in ContainerCreating before the container starts (tokio time).
    pub(crate) start_delay: Duration,
    /// The image cannot be pulled: ErrImagePull, then ImagePullBackOff.
    pub(crate) pull_error: Option<String>,
    /// The container cannot be created: CreateContainerConfigError with this message.
    pub(crate) config_error: Option<String>,
    /// Ready as soon as it starts even with a readiness probe (default true).
    pub(crate) ready_on_start: bool,
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

impl Script {
    /// Starts, is ready, runs until deleted (add steps to change that).
    pub fn new() -> Self {
        Script {
            steps: Vec::new(),
            start_delay: Duration::ZERO,
            pull_error: None,
            config_error: None,
            ready_on_start: true,
        }
    }

    /// Exits 0 at once.
    pub fn succeeds() -> Self {
        Self::new().exit(0)
    }

    /// Logs the lines, then exits with `code`.
    pub fn logs_then_exits(lines: &[&str], code: i32) -> Self {
        let mut s = Self::new();
        for l in lines {
            s = s.log(*l);
        }
        s.exit(code)
    }

    /// The image cannot be pulled (the registry says "not found").
    pub fn image_pull_fails() -> Self {
        Self::image_pull_fails_with("not found")
    }

    /// The image cannot be pulled; `why` ends the runtime's message.
    pub fn image_pull_fails_with(why: &str) -> Self {
        let mut s = Self::new();
        s.pull_error = Some(why.to_string());
        s
    }

    /// The container cannot be created (e.g. `secret "db" not found`).
    pub fn config_error(message: &str) -> Self {
        let mut s = Self::new();
        s.config_error = Some(message.to_string());
        s
    }

    /// Crashes at once with `code` after logging `lines`; under restartPolicy Always it ends in
    /// CrashLoopBackOff.
    pub fn crashes(lines: &[&str], code: i32) -> Self {
        Self::logs_then_exits(lines, code)
    }

    pub fn log(mut self, line: impl Into<String>) -> Self {
        self.steps.push(Step::Log(line.into()));
        self
    }

    pub fn sleep(mut self, d: Duration) -> Self {
        self.steps.push(Step::Sleep(d));
        self
    }

    pub fn wait_for(mut self, gate: impl Into<String>) -> Self {
        self.steps.push(Step::WaitGate(gate.into()));
        self
    }

    pub fn ready(mut self) -> Self {
        self.steps.push(Step::Ready(true));
        self
    }

    pub fn not_ready(mut self) -> Self {
        self.steps.push(Step::Ready(false));
        self
    }

    /// With a readiness probe, the container starts not ready (a `ready()` step flips it).
    pub fn starts_unready(mut self) -> Self {
        self.ready_on_start = false;
        self
    }

    pub fn start_after(mut self, d: Duration) -> Self {
        self.start_delay = d;
        self
    }

    pub fn exit(mut self, code: i32) -> Self {
        self.steps.push(Step::Exit(code, None));
        self
    }

    pub fn exit_with_message(mut self, code: i32, message: impl Into<String>) -> Self {
        self.steps.push(Step::Exit(code, Some(message.into())));
        self
    }
}

/// `(repository, tag)`: a tag is a `:` in the last path segment (`reg:5000/app` has none).
fn split_tag(image: &str) -> (&str, Option<&str>) {
    let last = image.rfind('/').map_or(0, |i| i + 1);
    match image[last..].find(':') {
        Some(i) => (&image[..last + i], Some(&image[last + i + 1..])),
        None => (image, None),
    }
}

/// Which containers a script applies to.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptMatch {
    /// `busybox:1.36` matches exactly; `busybox` (no tag) matches any tag.
    pub image: String,
    /// A substring of `command + args` joined by spaces.
    pub command_contains: Option<String>,
}

impl ScriptMatch {
    pub fn image(image: &str) -> Self {
        ScriptMatch {
            image: image.to_string(),
            command_contains: None,
        }
    }

    pub fn command_contains(mut self, s: &str) -> Self {
        self.command_contains = Some(s.to_string());
        self
    }

    pub fn matches(&self, image: &str, command: &str) -> bool {
        let image_ok = self.image == image
            || (split_tag(&self.image).1.is_none() && self.image == split_tag(image).0);
        image_ok
            && self
                .command_contains
                .as_ref()
                .is_none_or(|c| command.contains(c.as_str()))
    }
}

/// The registered scripts; the latest matching registration wins.
#[derive(Debug, Default)]
pub struct Scripts {
    entries: Vec<(ScriptMatch, Script)>,
    /// For containers no script matches: `Always` restart policy → runs forever and ready;
    /// otherwise this (default: exits 0 at once).
    pub default_batch: Option<Script>,
}

impl Scripts {
    pub fn register(&mut self, m: ScriptMatch, s: Script) {
        self.entries.push((m, s));
    }

    pub fn find(&self, image: &str, command: &str, restart_always: bool) -> Script {
        if let Some((_, s)) = self
            .entries
            .iter()
            .rev()
            .find(|(m, _)| m.matches(image, command))
        {
            return s.clone();
        }
        if restart_always {
            Script::new()
        } else {
            self.default_batch.clone().unwrap_or_else(Script::succeeds)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_matching() {
        let m = ScriptMatch::image("busybox");
        assert!(m.matches("busybox:1.36", ""));
        assert!(m.matches("busybox", ""));
        assert!(!m.matches("busybox2:1", ""));
        let m = ScriptMatch::image("reg:5000/app:1").command_contains("pytest");
        assert!(m.matches("reg:5000/app:1", "sh -c pytest -x"));
        assert!(!m.matches("reg:5000/app:1", "sh -c true"));
        let m = ScriptMatch::image("reg:5000/app");
        assert!(m.matches("reg:5000/app:2", ""));
        let mut s = Scripts::default();
        s.register(ScriptMatch::image("a"), Script::succeeds());
        s.register(ScriptMatch::image("a"), Script::new().exit(3));
        assert_eq!(s.find("a:1", "", false), Script::new().exit(3));
        assert_eq!(s.find("b", "", true), Script::new());
        assert_eq!(s.find("b", "", false), Script::succeeds());
    }
}

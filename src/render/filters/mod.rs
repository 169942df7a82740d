//! Filters, functions and methods of cookiecutter's Jinja environment, plus the Jinja2
//! filters whose minijinja versions print differently: [`install`] registers them all, each
//! topic lives in its own file (`format`: printf and `str.format`; `json`: `jsonify`/`tojson`;
//! `text`: escaping, joining, slugs, truncation, word wrapping, URL encoding; `random`; `time`: `{% now %}`).

mod format;
mod json;
mod random;
mod text;
mod time;

pub use text::escape_with;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use minijinja::value::{Rest, Value, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::python;

/// Names of the internal functions `{% now %}` tags are rewritten to.
pub(super) const NOW_FN: &str = "__maestro_now";
pub(super) const SHIFT_FN: &str = "__maestro_datetime";

/// Per-render state shared by the functions: the clock and the random source.
#[derive(Clone)]
pub(super) struct Runtime {
    now: DateTime<Utc>,
    rng: Arc<Mutex<StdRng>>,
}

impl Runtime {
    pub(super) fn new(now: Option<DateTime<Utc>>, seed: Option<u64>) -> Runtime {
        let rng = match seed {
            Some(s) => StdRng::seed_from_u64(s),
            None => StdRng::from_os_rng(),
        };
        Runtime {
            now: now.unwrap_or_else(Utc::now),
            rng: Arc::new(Mutex::new(rng)),
        }
    }

    fn with_rng<T>(&self, f: impl FnOnce(&mut StdRng) -> T) -> T {
        // A poisoned lock only means another render panicked mid-draw; the RNG is still usable.
        let mut guard = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}

fn op_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Registers everything on `env`.
pub(super) fn install(env: &mut Environment<'static>, rt: &Runtime, newline: &str) {
    env.set_unknown_method_callback(unknown_method);
    env.set_formatter(|out, state, value| {
        // Jinja2 prints Python's str(): `True`, `None`, `1e+16`, `['a', 1]`, escaped with
        // MarkupSafe's rules when autoescaping is on.
        let text = python::py_str(value);
        let text = if matches!(state.auto_escape(), minijinja::AutoEscape::None) || value.is_safe()
        {
            text
        } else {
            text::markup_escape(&text)
        };
        out.write_str(&text)
            .map_err(|_| Error::from(ErrorKind::WriteFailure))
    });

    env.add_filter("jsonify", json::jsonify);
    env.add_filter("tojson", json::tojson);
    env.add_filter("slugify", text::slugify_filter);
    env.add_filter("title", |s: &str| python::jinja_title(s));
    env.add_filter("capitalize", |s: &str| python::capitalize(s));
    env.add_filter("center", |s: &str, width: Option<i64>| {
        python::center(s, width.unwrap_or(80).clamp(0, 1_000_000) as usize, ' ')
    });
    env.add_filter("wordcount", text::wordcount);
    env.add_filter("urlencode", text::urlencode);
    env.add_filter("format", format::format_filter);
    env.add_filter("string", |v: &Value| Value::from(python::py_str(v)));
    env.add_filter("escape", text::escape_filter);
    env.add_filter("e", text::escape_filter);
    env.add_filter("join", text::join_filter);
    env.add_filter("filesizeformat", minijinja_contrib::filters::filesizeformat);
    env.add_filter("truncate", text::truncate);
    let newline = newline.to_string();
    env.add_filter("wordwrap", move |s: &str, args: Rest<ValueOrKwargs>| {
        text::wordwrap(s, args, &newline)
    });
    env.add_filter("striptags", minijinja_contrib::filters::striptags);
    env.add_function("cycler", minijinja_contrib::globals::cycler);
    env.add_function("joiner", minijinja_contrib::globals::joiner);

    let r = rt.clone();
    env.add_function("uuid4", move || -> String {
        let bytes: [u8; 16] = r.with_rng(|rng| rng.random());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    });
    let r = rt.clone();
    env.add_function("random_ascii_string", move |args: Rest<ValueOrKwargs>| {
        random::random_ascii_string(&r, args.into_values())
    });
    let r = rt.clone();
    env.add_filter("random", move |v: &Value| -> Result<Value, Error> {
        let items: Vec<Value> = v.try_iter()?.collect();
        if items.is_empty() {
            return Err(op_err("random: cannot choose from an empty sequence"));
        }
        let i = r.with_rng(|rng| rng.random_range(0..items.len()));
        Ok(items[i].clone())
    });
    let r = rt.clone();
    env.add_function(NOW_FN, move |tz: &Value, fmt: &Value| {
        time::now_fn(&r, tz, fmt)
    });
    let r = rt.clone();
    env.add_function(
        SHIFT_FN,
        move |tz: &Value, op: &str, offset: &Value, fmt: &Value| {
            time::shift_fn(&r, tz, op, offset, fmt)
        },
    );
}

/// Python `str` methods first (with Python's exact semantics), then minijinja-contrib's
/// table for `dict`/`list` methods.
fn unknown_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let Some(s) = value.as_str() {
        if method == "format" {
            return format::str_format(s, args);
        }
        if let Some(v) = python::call_str_method(s, method, args)? {
            return Ok(v);
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

fn split_kwargs(args: &[Value]) -> (Vec<Value>, Vec<(String, Value)>) {
    let mut pos = Vec::new();
    let mut kw = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i + 1 == args.len() && a.is_kwargs() {
            if let Ok(iter) = a.try_iter() {
                for k in iter {
                    let v = a.get_item(&k).unwrap_or(Value::UNDEFINED);
                    kw.push((k.to_string(), v));
                }
            }
        } else {
            pos.push(a.clone());
        }
    }
    (pos, kw)
}

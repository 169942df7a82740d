//! `random`: cookiecutter's `random_ascii_string` (`uuid4()` and the `random` filter are
//! registered in [`super::install`]; all draw from the render's seeded [`super::Runtime`]).

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};
use rand::Rng;

use super::{Runtime, op_err, split_kwargs};

/// Longest string `random_ascii_string` will build (guards memory; fuel covers time).
const MAX_RANDOM_LENGTH: i64 = 1_000_000;

/// `random_ascii_string(length, punctuation=False)`.
pub(super) fn random_ascii_string(rt: &Runtime, args: Vec<Value>) -> Result<String, Error> {
    const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const PUNCT: &[u8] = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let (pos, kwargs) = split_kwargs(&args);
    let mut length: Option<Value> = pos.first().cloned();
    let mut punctuation: Option<Value> = pos.get(1).cloned();
    if pos.len() > 2 {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "random_ascii_string takes at most 2 arguments",
        ));
    }
    for (k, v) in kwargs {
        match k.as_str() {
            "length" if length.is_none() => length = Some(v),
            "punctuation" if punctuation.is_none() => punctuation = Some(v),
            _ => {
                return Err(Error::new(
                    ErrorKind::TooManyArguments,
                    format!("random_ascii_string: unexpected argument {k:?}"),
                ));
            }
        }
    }
    let length = length
        .and_then(|v| if v.is_integer() { v.as_i64() } else { None })
        .ok_or_else(|| {
            Error::new(
                ErrorKind::MissingArgument,
                "random_ascii_string needs an integer length",
            )
        })?;
    let punctuation = punctuation.is_some_and(|v| v.is_true());
    if length > MAX_RANDOM_LENGTH {
        return Err(op_err(format!(
            "random_ascii_string: length {length} exceeds {MAX_RANDOM_LENGTH}"
        )));
    }
    let corpus: Vec<u8> = if punctuation {
        [LETTERS, PUNCT].concat()
    } else {
        LETTERS.to_vec()
    };
    Ok(rt.with_rng(|rng| {
        (0..length.max(0))
            .map(|_| corpus[rng.random_range(0..corpus.len())] as char)
            .collect()
    }))
}

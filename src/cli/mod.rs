//! Client commands of the `maestro` binary that talk to a Maestro server over HTTP (no
//! configuration or database of their own): `maestro login`, `maestro project …`.

pub mod login;
pub mod project;

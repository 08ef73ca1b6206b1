//! Helpers shared by the wire-fake tests.
#![allow(dead_code)]

pub mod wire;
